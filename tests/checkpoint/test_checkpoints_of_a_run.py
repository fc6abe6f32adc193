"""The checkpoint layout after real trainings: files, retention, atomicity,
corrupt files and lightweight resume (kill -9 and resume:
test_crash_safety.py)."""
import os
import os.path as osp

import pytest
import torch

from helpers.runs import SMALL_CONFIG, ckpt, run_tool_process, scalars, train


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def test_layout_and_retention(demo_run):
    work_dir = demo_run['work_dir']
    names = sorted(os.listdir(osp.join(work_dir, 'checkpoints')))
    # 3 epochs, full every 2 epochs and at the end, 2 lightweight kept
    assert names == [
        'best_model.pth', 'checkpoint_epoch_2.pth',
        'checkpoint_epoch_2_lightweight.pth', 'checkpoint_epoch_3.pth',
        'checkpoint_epoch_3_lightweight.pth', 'latest_checkpoint.pth'
    ]
    light = _load(ckpt(work_dir, 'checkpoint_epoch_3_lightweight.pth'))
    assert 'optimizer' not in light and 'param_schedulers' not in light
    assert light['meta']['epoch'] == 3 and light['meta']['iter'] == 9
    assert light['meta']['dataset_meta']['classes'] == ('player', 'ball')
    assert "type='FieldCocoDataset'" in light['meta']['cfg']
    for name in ('checkpoint_epoch_2.pth', 'latest_checkpoint.pth'):
        full = _load(ckpt(work_dir, name))
        for key in ('optimizer', 'param_schedulers', 'message_hub',
                    'rng_state', 'state_dict'):
            assert key in full, (name, key)
    assert _load(ckpt(work_dir, 'latest_checkpoint.pth'))['meta']['epoch'] == 3


def test_best_model_is_the_best_validation_epoch(demo_run):
    records = [
        r for r in scalars(demo_run['work_dir']) if 'coco/bbox_mAP' in r
    ]
    scores = [r['coco/bbox_mAP'] for r in records]
    best = _load(ckpt(demo_run['work_dir'], 'best_model.pth'))['meta']
    assert best['best_metric'] == 'coco/bbox_mAP'
    assert best['best_score'] == pytest.approx(max(scores))
    # replaced only when beaten: the first epoch reaching the best score
    assert best['best_epoch'] == scores.index(max(scores)) + 1
    assert 'optimizer' not in _load(
        ckpt(demo_run['work_dir'], 'best_model.pth'))


def test_truncated_checkpoint_is_refused_with_its_name(demo_run, tmp_path):
    """Also the command-line smoke test of train.py, test.py and
    export_model.py: each a process, its exit status and one line."""
    bad = tmp_path / 'truncated.pth'
    data = open(ckpt(demo_run['work_dir'], 'latest_checkpoint.pth'),
                'rb').read()
    bad.write_bytes(data[:len(data) // 2])
    for proc in (run_tool_process(
            'train.py',
            SMALL_CONFIG,
            '--work-dir',
            tmp_path / 'w',
            '--resume',
            bad,
            check=False),
                 run_tool_process('test.py', SMALL_CONFIG, bad, check=False),
                 run_tool_process(
                     'export_model.py',
                     '--checkpoint',
                     bad,
                     '--output',
                     tmp_path / 'out.pth',
                     check=False)):
        assert proc.returncode == 2
        assert 'Traceback' not in proc.stderr
        assert f'{bad}: not a readable checkpoint (truncated or corrupt' \
            in proc.stderr
    assert not (tmp_path / 'out.pth').exists()


def test_lightweight_resume_warns_and_keeps_the_schedule(demo_run, tmp_path):
    work_dir = str(tmp_path / 'light')
    proc = train(
        work_dir,
        '--resume',
        ckpt(demo_run['work_dir'], 'checkpoint_epoch_2_lightweight.pth'),
        data=demo_run['data'],
        options=['train_cfg.max_epochs=3'])
    log = proc.stdout + proc.stderr
    assert 'resuming from a lightweight checkpoint (epoch 2)' in log
    assert 'optimizer state' in log
    final = _load(ckpt(work_dir, 'latest_checkpoint.pth'))['meta']
    assert final['epoch'] == 3 and final['iter'] == 9
    # the learning rate of epoch 3 is the uninterrupted run's
    lr = {r['iter']: r['lr'] for r in scalars(work_dir) if 'lr' in r}
    lr_ref = {
        r['iter']: r['lr']
        for r in scalars(demo_run['work_dir']) if 'lr' in r
    }
    assert sorted(lr) == [7, 8, 9]
    for it in lr:
        assert lr[it] == pytest.approx(lr_ref[it], rel=1e-6)
