"""Crash safety: which checkpoint --resume takes, files a killed write left
behind, hostile checkpoint files, two runs on one MLflow store."""
import os
import os.path as osp
import re
import shutil

import pytest
import torch

from field_detr import InputError, LocalDetector
from field_detr.runtime import resume_checkpoint
from helpers.runs import (DEMO_CONFIG, FAULTS_ENV, SMALL_CONFIG, TINY_CONFIG,
                          ckpt, fault_config, run_tool, start_forked_tool,
                          train, train_args, train_stopped)


class RunsACommand:
    """Pickles as a call of os.system: loading it would create ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


@pytest.fixture
def hostile_checkpoint(tmp_path):
    marker = tmp_path / 'code_ran'
    path = tmp_path / 'hostile.pth'
    torch.save(
        {
            'state_dict': {
                'w': torch.zeros(1)
            },
            'meta': {
                'epoch': 1,
                'x': RunsACommand(marker)
            }
        }, path)
    return path, marker


def test_hostile_checkpoint_is_refused_before_anything_runs(
        hostile_checkpoint, demo_data, tmp_path):
    path, marker = hostile_checkpoint
    transplant_cfg = tmp_path / 'transplant.py'
    transplant_cfg.write_text(
        f'_base_ = {DEMO_CONFIG!r}\n'
        f'custom_hooks = [dict(type="CocoTransplantHook", '
        f'checkpoint={str(path)!r})]\n')
    data = ['--train-dir', demo_data['train'], '--val-dir', demo_data['val']]
    runs = {
        'train --resume':
        run_tool(
            'train.py',
            DEMO_CONFIG,
            '--work-dir',
            tmp_path / 'w1',
            *data,
            '--resume',
            path,
            check=False),
        'train load_from':
        run_tool(
            'train.py',
            DEMO_CONFIG,
            '--work-dir',
            tmp_path / 'w2',
            *data,
            '--cfg-options',
            f'load_from={path}',
            check=False),
        'train COCO transplant':
        run_tool(
            'train.py',
            transplant_cfg,
            '--work-dir',
            tmp_path / 'w3',
            *data,
            check=False,
            env={'FIELD_DETR_COCO_START': '1'}),
        'test.py':
        run_tool('test.py', DEMO_CONFIG, path, check=False),
        'export_model.py':
        run_tool(
            'export_model.py',
            '--checkpoint',
            path,
            '--output',
            tmp_path / 'out.pth',
            check=False),
    }
    for name, proc in runs.items():
        assert proc.returncode == 2, (name, proc.stderr[-2000:])
        assert 'Traceback' not in proc.stderr, name
        lines = [
            line for line in proc.stderr.splitlines()
            if line.startswith('error:')
        ]
        assert len(lines) == 1, (name, proc.stderr[-2000:])
        assert f'{path}: refused, it was not loaded' in lines[0], name
        assert 'posix.system' in lines[0], name
    with pytest.raises(InputError, match='posix.system'):
        LocalDetector(str(path))
    assert not marker.exists()
    assert not (tmp_path / 'out.pth').exists()
    for work_dir in ('w1', 'w2', 'w3'):  # nothing was built or written
        assert not (tmp_path / work_dir / 'checkpoints').exists()


def _save(path, epoch):
    os.makedirs(osp.dirname(path), exist_ok=True)
    torch.save({'meta': {'epoch': epoch}, 'state_dict': {}}, path)


def _truncate(path):
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


def test_resume_order_newest_intact_checkpoint(tmp_path):
    work_dir = str(tmp_path)
    assert resume_checkpoint(work_dir)[0] is None
    _save(ckpt(work_dir, 'checkpoint_epoch_1_lightweight.pth'), 1)
    _save(ckpt(work_dir, 'checkpoint_epoch_12_lightweight.pth'), 12)
    path, why = resume_checkpoint(work_dir)
    assert path == ckpt(work_dir, 'checkpoint_epoch_12_lightweight.pth')
    assert 'optimizer starts cold' in why
    _save(ckpt(work_dir, 'checkpoint_epoch_2.pth'), 2)
    _save(ckpt(work_dir, 'checkpoint_epoch_10.pth'), 10)
    path, why = resume_checkpoint(work_dir)
    assert path == ckpt(work_dir, 'checkpoint_epoch_10.pth')  # not 2
    _save(ckpt(work_dir, 'latest_checkpoint.pth'), 12)
    assert resume_checkpoint(work_dir)[0] == ckpt(work_dir,
                                                  'latest_checkpoint.pth')
    # a damaged file is passed over, and the message says so
    _truncate(ckpt(work_dir, 'latest_checkpoint.pth'))
    path, why = resume_checkpoint(work_dir)
    assert path == ckpt(work_dir, 'checkpoint_epoch_10.pth')
    assert 'skipped latest_checkpoint.pth (not intact)' in why
    for name in ('checkpoint_epoch_10.pth', 'checkpoint_epoch_2.pth',
                 'checkpoint_epoch_12_lightweight.pth'):
        _truncate(ckpt(work_dir, name))
    assert resume_checkpoint(work_dir)[0] == ckpt(
        work_dir, 'checkpoint_epoch_1_lightweight.pth')
    _truncate(ckpt(work_dir, 'checkpoint_epoch_1_lightweight.pth'))
    path, why = resume_checkpoint(work_dir)
    assert path is None and 'not intact' in why


def test_kill_during_the_first_full_write_then_resume(demo_run, tmp_path):
    """The state a SIGKILL leaves while epoch 2's full state is still being
    written (latest_checkpoint.pth not yet there, its temp file half
    written, the lightweight file complete): --resume continues from the
    lightweight file, says so, and removes the temp file."""
    work_dir = str(tmp_path / 'killed')
    os.makedirs(ckpt(work_dir, ''))
    shutil.copy(
        ckpt(demo_run['work_dir'], 'checkpoint_epoch_2_lightweight.pth'),
        ckpt(work_dir, 'checkpoint_epoch_2_lightweight.pth'))
    partial = ckpt(work_dir, '.latest_checkpoint.pth.tmp')
    shutil.copy(ckpt(demo_run['work_dir'], 'latest_checkpoint.pth'), partial)
    _truncate(partial)
    mine = ckpt(work_dir, '.notes.tmp')  # not ours: kept
    open(mine, 'w').close()

    proc = train(
        work_dir,
        '--resume',
        data=demo_run['data'],
        options=['train_cfg.max_epochs=3'])
    log = proc.stdout + proc.stderr
    assert ('--resume: ' +
            ckpt(work_dir, 'checkpoint_epoch_2_lightweight.pth') +
            ' (the newest intact checkpoint, weights only') in log
    assert ('removed unfinished checkpoint writes of a killed run: '
            '.latest_checkpoint.pth.tmp') in log
    assert not osp.exists(partial) and osp.exists(mine)
    final = torch.load(
        ckpt(work_dir, 'latest_checkpoint.pth'), weights_only=True)['meta']
    assert final['epoch'] == 3 and final['iter'] == 9


def _tiny_run(work_dir, data, store_uri):
    # 2 epochs (4 iterations): the race is in the first connection to the
    # store
    return start_forked_tool(
        'train.py',
        *train_args(
            work_dir,
            config=TINY_CONFIG,
            data=data,
            options=['train_cfg.max_epochs=2']),
        env={'MLFLOW_TRACKING_URI': store_uri},
        stderr_to_stdout=True)


@pytest.mark.slow
def test_two_runs_started_together_on_one_store(demo_data, tmp_path):
    """Two trainings started at once on a new SQLite store, then two more
    on the now existing one: four complete, FINISHED runs."""
    import mlflow
    uri = f'sqlite:///{tmp_path}/store/mlflow.db'
    for pair in ('new', 'existing'):
        procs = [
            _tiny_run(str(tmp_path / f'{pair}_{i}'), demo_data, uri)
            for i in range(2)
        ]
        for proc in procs:
            result = proc.result(timeout=900)
            out = result.stdout
            assert result.returncode == 0, out[-3000:]
            assert 'MLflow tracking failed' not in out, out[-3000:]
    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name('detr_training')
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.info.run_name for r in runs) == [
        'existing_0', 'existing_1', 'new_0', 'new_1'
    ]
    for run in runs:
        assert run.info.status == 'FINISHED'
        steps = [
            m.step
            for m in client.get_metric_history(run.info.run_id, 'train_loss')
        ]
        # every iteration's loss (logger interval 1), 3 or more
        assert sorted(steps) == list(range(1, len(steps) + 1))
        assert len(steps) >= 3, run.info.run_name
        assert 'val_map' in run.data.metrics


# (moment, the epoch it falls in) for a 3-epoch run, full state every 2
KILL_MOMENTS = [
    ('mid_iteration', 2),
    ('validation', 2),
    ('write:checkpoint_epoch_2_lightweight.pth', 2),
    ('write:checkpoint_epoch_2.pth', 2),
    ('write:latest_checkpoint.pth#2', 2),  # epoch 2: the copy of the full
    ('write:best_model.pth', 1),
    ('upload:checkpoint_epoch_2.pth', 2),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    'moment,epoch', KILL_MOMENTS, ids=[m for m, _ in KILL_MOMENTS])
def test_kill_anywhere_then_resume(moment, epoch, demo_data, tmp_path):
    """SIGKILL a 3-epoch run at ``moment``, then --resume: the run ends at
    epoch 3 with every iteration, having lost at most the killed epoch;
    every final-named file loads (none is truncated), no temporary file is
    left, and MLflow holds one FINISHED run, continued under the same id.
    (``mid_iteration`` is kill -9 in the middle of epoch 2.) The killed run
    is a process (a fork of the test process); the resume runs in the test
    process."""
    import mlflow
    config = fault_config(
        tmp_path / 'kill.py', TINY_CONFIG,
        "[dict(type='RNGStateHook'), dict(type='MLflowRunHook'), "
        f"dict(type='KillAtHook', moment={moment!r}, epoch={epoch}, "
        f"marker={str(tmp_path / 'killed')!r})]",
        "type='CheckpointLayoutHook', full_interval=2")
    work_dir = str(tmp_path / 'run')
    uri = f'sqlite:///{tmp_path}/mlflow.db'
    env = {
        **FAULTS_ENV, 'MLFLOW_TRACKING_URI': uri,
        'FIELD_DETR_MLFLOW_CHECKPOINTS': 'milestones'
    }
    args = train_args(
        work_dir,
        config=config,
        data=demo_data,
        options=['train_cfg.max_epochs=3'])
    killed = start_forked_tool('train.py', *args, env=env).result(timeout=900)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert osp.exists(tmp_path / 'killed')

    resumed = run_tool('train.py', *args, '--resume', env=env)
    log = resumed.stdout + resumed.stderr
    resumed_from = [line for line in log.splitlines() if '--resume: ' in line]
    assert len(resumed_from) == 1, log[-3000:]
    start = torch.load(
        resumed_from[0].split('--resume: ')[1].split(' (')[0],
        weights_only=True)['meta']
    assert start['epoch'] >= epoch - 1  # at most the killed epoch is lost

    folder = ckpt(work_dir, '')
    names = os.listdir(folder)
    assert not [n for n in names if n.endswith('.tmp')], names
    for name in names:
        torch.load(osp.join(folder, name), weights_only=True)
    final = torch.load(
        ckpt(work_dir, 'latest_checkpoint.pth'), weights_only=True)['meta']
    iters_per_epoch = start['iter'] // start['epoch']
    assert final['epoch'] == 3 and final['iter'] == 3 * iters_per_epoch

    client = mlflow.MlflowClient(tracking_uri=uri)
    runs = client.search_runs(
        [client.get_experiment_by_name('detr_training').experiment_id])
    assert len(runs) == 1
    assert runs[0].info.status == 'FINISHED'
    assert runs[0].info.run_id == final['mlflow_run_id']
    assert 'continued' in log  # the same run, not a new one


def test_full_disk_stops_with_one_line_and_keeps_earlier_files(
        demo_data, tmp_path):
    config = fault_config(tmp_path / 'disk_full.py', TINY_CONFIG,
                          "[dict(type='DiskFullAtEpochHook', epoch=2)]",
                          "type='CheckpointLayoutHook', full_interval=2")
    work_dir = str(tmp_path / 'run')
    proc = train_stopped(work_dir, config, demo_data)
    errors = [
        line for line in proc.stderr.splitlines() if line.startswith('error:')
    ]
    latest = ckpt(work_dir, 'latest_checkpoint.pth')
    assert len(errors) == 1
    assert errors[0].startswith(
        f'error: {ckpt(work_dir, "checkpoint_epoch_2_lightweight.pth")}: '
        'could not be written (')
    assert 'No space left on device' in errors[0]
    assert ' MB free in ' in errors[0]
    assert errors[0].endswith(
        f'training stopped, the last good checkpoint is {latest}')
    names = sorted(os.listdir(ckpt(work_dir, '')))
    assert names == [
        'best_model.pth', 'checkpoint_epoch_1_lightweight.pth',
        'latest_checkpoint.pth'
    ]  # no partial file
    assert torch.load(latest, weights_only=True)['meta']['epoch'] == 1


def test_image_cut_short_during_training_stops_with_one_line(
        demo_data, tmp_path):
    """Training images cut short after the split was checked (a copy still
    running over the dataset): the data-loader worker's failure stops the
    run with one line naming the image, not the worker's traceback; the
    checkpoints of the epoch before are intact."""
    train_dir = tmp_path / 'train'
    shutil.copytree(demo_data['train'], train_dir)
    config = fault_config(tmp_path / 'cut_images.py', SMALL_CONFIG,
                          "[dict(type='CutImageAtEpochHook', epoch=2)]")
    work_dir = str(tmp_path / 'run')
    proc = train(
        work_dir,
        config=config,
        data=dict(train=str(train_dir), val=demo_data['val']),
        options=['train_cfg.max_epochs=2', 'train_dataloader.num_workers=1'],
        env=FAULTS_ENV,
        check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr
    errors = [
        line for line in proc.stderr.splitlines() if line.startswith('error:')
    ]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert re.fullmatch(
        rf'error: {re.escape(str(train_dir))}/images/[^/ ]+\.jpg: image '
        r'unreadable during training \(OSError: image file is truncated.*\); '
        r'restore it \(or check the split again\) and continue with '
        r'--resume', errors[0]), errors[0]
    latest = ckpt(work_dir, 'latest_checkpoint.pth')
    assert torch.load(latest, weights_only=True)['meta']['epoch'] == 1


def test_disk_estimate_is_logged(demo_run):
    log = open(
        next(
            os.path.join(root, f)
            for root, _, files in os.walk(demo_run['work_dir']) for f in files
            if f.endswith('.log'))).read()
    # 3 epochs, full every 2: epochs 2 and 3 + latest full, best + 2 light
    assert 'checkpoints of this run: about ' in log
    assert ' GB free' in log
