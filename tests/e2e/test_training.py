"""Real short trainings through tools/train.py on generated data."""
import json
import os
import os.path as osp
import shutil

import pytest
import torch

from helpers.runs import (DEMO_CONFIG, FAULTS_ENV, SMALL_CONFIG, TOOL_ENV,
                          ckpt, cut_short, fault_config, run_tool,
                          run_tool_process, scalars, start_forked_tool, train,
                          train_args)


def test_demo_training_trains_validates_and_checkpoints(demo_run):
    work_dir = demo_run['work_dir']
    assert osp.isfile(ckpt(work_dir, 'latest_checkpoint.pth'))
    records = scalars(work_dir)
    losses = [r['loss'] for r in records if 'loss' in r]
    assert len(losses) == 9  # 3 epochs x 3 iterations (6 images, batch 2)
    assert all(torch.isfinite(torch.tensor(losses)))
    val = [r for r in records if 'coco/bbox_mAP' in r]
    assert len(val) == 3
    for key in ('coco/bbox_mAP_50', 'coco/player_mAP', 'coco/ball_mAP_75'):
        assert key in val[-1]
    # this machine has no CUDA: AMP falls back, said once (compile is off
    # in the config: nothing to say)
    log = demo_run['proc'].stdout + demo_run['proc'].stderr
    if not torch.cuda.is_available():
        assert log.count('mixed precision (AMP) is off') == 1
        assert 'torch.compile is off' not in log


def test_checkpoint_loads_under_torch_safe_loader(demo_run):
    import field_detr  # noqa: F401  (registers the allow-list)
    loaded = torch.load(
        ckpt(demo_run['work_dir'], 'latest_checkpoint.pth'),
        map_location='cpu',
        weights_only=True)
    assert loaded['meta']['epoch'] == 3
    assert loaded['meta']['dataset_meta']['classes'] == ('player', 'ball')
    assert 'rng_state' in loaded and 'message_hub' in loaded


def test_checkpoint_with_foreign_pickle_is_still_refused(tmp_path):
    import pickle

    import field_detr  # noqa: F401
    path = tmp_path / 'evil.pth'
    torch.save({'x': pickle.PickleError('not allowed')}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def _weights(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def test_resume_equals_uninterrupted_training(demo_data, tmp_path):
    """A 2-epoch run killed in its second epoch and resumed ends with the
    weights of the same run uninterrupted (its schedule planned for the 2
    epochs throughout)."""
    straight = str(tmp_path / 'straight')
    split = str(tmp_path / 'split')
    # a learning rate at which an epoch moves weights far beyond 1e-4
    options = ['train_cfg.max_epochs=2', 'optim_wrapper.optimizer.lr=1e-3']
    train(straight, data=demo_data, options=options)
    config = fault_config(
        tmp_path / 'kill.py', SMALL_CONFIG,
        "[dict(type='RNGStateHook'), dict(type='FiniteLossHook'), "
        "dict(type='MLflowRunHook'), dict(type='KillAtHook', "
        f"moment='mid_iteration', epoch=2, "
        f"marker={str(tmp_path / 'killed')!r})]")
    args = train_args(split, config=config, data=demo_data, options=options)
    killed = start_forked_tool(
        'train.py', *args, env=FAULTS_ENV).result(timeout=900)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert not osp.exists(ckpt(split, 'checkpoint_epoch_2_lightweight.pth'))
    proc = run_tool('train.py', *args, '--resume', env=FAULTS_ENV)
    assert 'resumed epoch: 1' in proc.stdout + proc.stderr

    a = _weights(ckpt(straight, 'checkpoint_epoch_2.pth'))
    b = _weights(ckpt(split, 'checkpoint_epoch_2.pth'))
    assert a['meta']['iter'] == b['meta']['iter'] == 6
    assert a['state_dict'].keys() == b['state_dict'].keys()
    worst = max((a['state_dict'][k].float() -
                 b['state_dict'][k].float()).abs().max().item()
                for k in a['state_dict'])
    assert worst <= 1e-4, f'weights differ by {worst}'
    # and training moved the weights: the comparison is not trivially true
    c = _weights(ckpt(split, 'checkpoint_epoch_1_lightweight.pth'))
    moved = max((a['state_dict'][k].float() -
                 c['state_dict'][k].float()).abs().max().item()
                for k in a['state_dict'])
    assert moved > 1e-3, moved  # measured 3e-3; the runs agree exactly


def test_resume_from_explicit_path(demo_run, tmp_path):
    work_dir = str(tmp_path / 'from_path')
    proc = train(
        work_dir,
        '--resume',
        ckpt(demo_run['work_dir'], 'checkpoint_epoch_2.pth'),
        data=demo_run['data'],
        options=['train_cfg.max_epochs=3'])
    assert 'resumed epoch: 2' in proc.stdout + proc.stderr
    assert osp.isfile(ckpt(work_dir, 'checkpoint_epoch_3_lightweight.pth'))
    assert not osp.exists(ckpt(work_dir, 'checkpoint_epoch_2_lightweight.pth'))


def test_new_run_never_overwrites_an_old_one(demo_run):
    latest = ckpt(demo_run['work_dir'], 'latest_checkpoint.pth')
    before = os.stat(latest).st_mtime_ns
    proc = run_tool(
        'train.py',
        SMALL_CONFIG,
        '--work-dir',
        demo_run['work_dir'],
        check=False)
    assert proc.returncode == 2
    assert 'already holds checkpoints' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert os.stat(latest).st_mtime_ns == before


def test_resume_with_nothing_to_resume_says_so(tmp_path, demo_data):
    """A process, as the user runs it: exit status 2 and one line."""
    proc = run_tool_process(
        'train.py',
        DEMO_CONFIG,
        '--work-dir',
        str(tmp_path),
        '--resume',
        check=False)
    assert proc.returncode == 2
    assert 'found no checkpoint' in proc.stderr


def _bad_box(split):
    ann_file = split / 'annotations' / 'annotations.json'
    coco = json.loads(ann_file.read_text())
    coco['annotations'][3]['bbox'] = [5, 5, -2, 10]
    ann_file.write_text(json.dumps(coco))
    return (f'{ann_file}: annotations[3] (id=4): bbox [5, 5, -2, 10] has '
            'non-positive width or height')


def _cut_image(split):
    ann_file = split / 'annotations' / 'annotations.json'
    image = json.loads(ann_file.read_text())['images'][1]
    path = split / 'images' / image['file_name']
    cut_short(path)
    return (f'{ann_file}: images[1] (id={image["id"]}): unreadable image '
            f'{path} (cut short or corrupt): OSError: image file is '
            'truncated')


@pytest.mark.parametrize('split, damage', [('train', _bad_box),
                                           ('val', _cut_image)])
def test_bad_split_stops_before_anything_with_one_line(demo_data, tmp_path,
                                                       split, damage):
    """A split the checks refuse (a bad box, a frame cut short whose header
    still reads) stops the run with one line, before the work dir or the
    tracking run exists: fixing a dataset in five tries leaves nothing
    behind."""
    data = dict(demo_data)
    data[split] = tmp_path / split
    shutil.copytree(demo_data[split], data[split])
    expected = damage(data[split])
    work_dir = tmp_path / 'refused_run'
    proc = train(work_dir, config=DEMO_CONFIG, data=data, check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr
    err = proc.stderr.strip().splitlines()[-1]
    assert err.startswith(f'error: {expected}'), err
    assert not work_dir.exists()
    from mlflow import MlflowClient
    client = MlflowClient(TOOL_ENV['MLFLOW_TRACKING_URI'])
    exp = client.get_experiment_by_name('detr_training')
    assert exp is None or not client.search_runs(
        [exp.experiment_id], "tags.mlflow.runName = 'refused_run'")


def test_resume_a_run_of_the_model_without_the_head(demo_data, tmp_path):
    """A run trained before the ball head (or with it off), resumed with the
    head on: its optimizer state has no group for the head, so it resumes
    as from a lightweight checkpoint (weights, epoch, schedules moved
    forward), the head initialised; each said in one line."""
    work_dir = str(tmp_path / 'run')
    train(
        work_dir,
        data=demo_data,
        options=['train_cfg.max_epochs=1', 'model.ball_head=None'])
    old = torch.load(
        ckpt(work_dir, 'latest_checkpoint.pth'), weights_only=True)
    assert not any(k.startswith('ball_head.') for k in old['state_dict'])
    proc = train(
        work_dir,
        '--resume',
        data=demo_data,
        options=['train_cfg.max_epochs=2'])
    log = proc.stdout + proc.stderr
    assert 'the checkpoint has no ball head: ball_head starts from its ' \
        'initialisation' in log, log[-3000:]
    assert 'resuming from a checkpoint without the ball head (epoch 1): ' \
        'its optimizer state has no place for the head' in log, log[-3000:]
    new = torch.load(
        ckpt(work_dir, 'latest_checkpoint.pth'), weights_only=True)
    assert new['meta']['epoch'] == 2
    assert new['meta']['iter'] == 2 * old['meta']['iter']
    # the head is in the weights, with its own optimizer group
    head = [k for k in new['state_dict'] if k.startswith('ball_head.')]
    assert head and len(new['optimizer']['param_groups']) > len(
        old['optimizer']['param_groups'])
    steps = {float(s['step']) for s in new['optimizer']['state'].values()}
    assert steps == {float(old['meta']['iter'])}  # one epoch since resume
