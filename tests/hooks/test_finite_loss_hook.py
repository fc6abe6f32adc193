"""FiniteLossHook: a non-finite loss stops the run, naming the iteration, and
no checkpoint holds a diverged model."""
import os.path as osp

import pytest
import torch

from helpers.runs import (SMALL_CONFIG, TOOL_ENV, ckpt, fault_config,
                          train_stopped)


@pytest.mark.parametrize('interval', [1, 20])
def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
        demo_data, tmp_path, interval):
    """Checked every iteration, or read every 20 (the configs') and at the
    epoch's end: the same stop, the first non-finite iteration named."""
    config = fault_config(
        tmp_path / 'nan_at_epoch_2.py', SMALL_CONFIG,
        f"[dict(type='FiniteLossHook', interval={interval}), "
        "dict(type='NaNLossFromEpochHook', epoch=2)]")
    work_dir = str(tmp_path / f'nan_run_{interval}')
    proc = train_stopped(work_dir, config, demo_data)
    latest = ckpt(work_dir, 'latest_checkpoint.pth')
    assert (f'non-finite loss (nan) at iteration 4 (epoch 2); training '
            f'stopped and the last good checkpoint is {latest}') in \
        proc.stderr
    good = torch.load(latest, weights_only=True)
    assert good['meta']['epoch'] == 1
    assert all(
        torch.isfinite(v).all() for v in good['state_dict'].values()
        if v.is_floating_point())
    assert not osp.exists(ckpt(work_dir, 'checkpoint_epoch_2_lightweight.pth'))
    # and the MLflow run says it failed
    from mlflow import MlflowClient
    client = MlflowClient(TOOL_ENV['MLFLOW_TRACKING_URI'])
    exp = client.get_experiment_by_name('detr_training')
    runs = client.search_runs([exp.experiment_id],
                              f"tags.mlflow.runName = 'nan_run_{interval}'")
    assert [r.info.status for r in runs] == ['FAILED']
