"""EMA of the weights (mmdet's EMAHook) and early stopping (MMEngine's
EarlyStoppingHook), switched on from tools/train.py, in real trainings."""
import os.path as osp

import pytest
import torch

from helpers.runs import ckpt, run_tool, train

pytestmark = pytest.mark.slow

EMA_OPTIONS = [
    'train_cfg.max_epochs=2', 'default_hooks.checkpoint.full_interval=1',
    'ema.gamma=1', 'ema.momentum=0.01'
]


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def _max_diff(a, b):
    return max(
        float((a[k].float() - b[k].float()).abs().max()) for k in a
        if a[k].is_floating_point())


@pytest.fixture(scope='module')
def ema_run(demo_data, tmp_path_factory):
    """2 epochs with --ema, a full checkpoint every epoch. gamma 1 makes
    the average's momentum fall to 0.01 within the 6 iterations, so that it
    lags the trained weights visibly."""
    work_dir = str(tmp_path_factory.mktemp('ema'))
    proc = train(work_dir, '--ema', data=demo_data, options=EMA_OPTIONS)
    return dict(work_dir=work_dir, proc=proc, data=demo_data)


def test_checkpoints_hold_the_averaged_weights(ema_run, tmp_path):
    assert 'EMA of the weights on' in ema_run['proc'].stdout + \
        ema_run['proc'].stderr
    final = _load(ckpt(ema_run['work_dir'], 'checkpoint_epoch_2.pth'))
    ema, raw = final['state_dict'], {
        k[len('module.'):]: v
        for k, v in final['ema_state_dict'].items() if k.startswith('module.')
    }
    assert set(ema) == set(raw)
    # the average lags the trained weights: they differ
    assert _max_diff(ema, raw) > 1e-4

    best = _load(ckpt(ema_run['work_dir'], 'best_model.pth'))
    epoch = best['meta']['best_epoch']
    at_best = _load(
        ckpt(ema_run['work_dir'],
             f'checkpoint_epoch_{epoch}.pth'))['state_dict']
    assert _max_diff(best['state_dict'], at_best) == 0

    # the exported model (and so LocalDetector) carries the average
    out = str(tmp_path / 'model.pth')
    run_tool('export_model.py', '--checkpoint',
             ckpt(ema_run['work_dir'], 'checkpoint_epoch_2.pth'), '--output',
             out)
    exported = _load(out)['state_dict']
    assert _max_diff(exported, ema) == 0
    from field_detr import LocalDetector
    detector = LocalDetector(out, device='cpu')
    loaded = detector.model.state_dict()
    assert _max_diff({k: loaded[k] for k in ema}, ema) == 0


def test_resume_restores_the_average_exactly(ema_run, tmp_path):
    """1 epoch + --resume gives the 2-epoch run's average and weights."""
    work_dir = str(tmp_path / 'resumed')
    train(
        work_dir,
        '--ema',
        '--resume',
        ckpt(ema_run['work_dir'], 'checkpoint_epoch_1.pth'),
        data=ema_run['data'],
        options=EMA_OPTIONS)
    straight = _load(ckpt(ema_run['work_dir'], 'checkpoint_epoch_2.pth'))
    resumed = _load(ckpt(work_dir, 'checkpoint_epoch_2.pth'))
    assert resumed['meta']['iter'] == straight['meta']['iter'] == 6
    assert _max_diff(resumed['state_dict'], straight['state_dict']) < 1e-6
    assert _max_diff(resumed['ema_state_dict'],
                     straight['ema_state_dict']) < 1e-6


def test_early_stopping_ends_the_run_cleanly(demo_data, tmp_path):
    """Patience 1 with an improvement no run can make (min_delta 1.0): the
    second validation stops the run at epoch 2 of 5. The final checkpoints
    are written, the MLflow run is FINISHED with the reason, and the best
    model follows a ball metric (save_best='coco/ball_f1_10px')."""
    work_dir = str(tmp_path / 'stopped')
    store = tmp_path / 'store'
    uri = f'sqlite:///{store}/mlflow.db'
    proc = train(
        work_dir,
        '--early-stop',
        '1',
        data=demo_data,
        env=dict(MLFLOW_TRACKING_URI=uri),
        options=[
            'train_cfg.max_epochs=5',
            'default_hooks.checkpoint.full_interval=4',
            'early_stopping.min_delta=1.0',
            'default_hooks.checkpoint.save_best='
            'coco/ball_f1_10px'
        ])
    log = proc.stdout + proc.stderr
    assert 'early stopping on: coco/bbox_mAP, patience 1' in log
    latest = _load(ckpt(work_dir, 'latest_checkpoint.pth'))
    assert latest['meta']['epoch'] == 2
    assert osp.exists(ckpt(work_dir, 'checkpoint_epoch_2.pth'))
    assert _load(ckpt(work_dir, 'checkpoint_epoch_2.pth'))['meta']['epoch'] \
        == 2
    best = _load(ckpt(work_dir, 'best_model.pth'))['meta']
    assert best['best_metric'] == 'coco/ball_f1_10px'

    from mlflow import MlflowClient
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name('detr_training')
    (run, ) = client.search_runs([exp.experiment_id])
    assert run.info.status == 'FINISHED'
    reason = run.data.tags['stop_reason']
    assert reason.startswith('early stopping at epoch 2 of 5'), reason
    assert 'coco/bbox_mAP' in reason
    assert run.data.tags['epochs_trained'] == '2'
    assert 'val_ball_f1_10px' in run.data.metrics
