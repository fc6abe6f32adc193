"""FieldMLflowVisBackend against a real MLflow SQLite store, in process: the
experiment kind, renamed metrics, MMEngine's own upload of the work dir's
logs on close, continuing a run, and a failure that never stops training."""
import os
import os.path as osp
from unittest.mock import patch

import mlflow
import pytest
from mlflow import MlflowClient
from mmengine.config import Config
from mmengine.logging import MMLogger

from field_detr.tracking import FieldMLflowVisBackend
from field_detr.tracking.mlflow_backend import (EXPERIMENT_KIND,
                                                EXPERIMENT_KIND_TAG)
from helpers.services import mlflow_artifacts


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f'sqlite:///{tmp_path}/mlruns/mlflow.db'
    monkeypatch.setenv('MLFLOW_TRACKING_URI', uri)
    monkeypatch.delenv('MLFLOW_EXPERIMENT_NAME', raising=False)
    yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()


def _work_dir(tmp_path):
    work_dir = tmp_path / 'run_a'
    (work_dir / '20260101_000000' / 'vis_data').mkdir(parents=True)
    (work_dir / '20260101_000000' / '20260101_000000.log').write_text('log')
    (work_dir / '20260101_000000' / 'vis_data' /
     'scalars.json').write_text('{"loss": 1.0, "step": 1}\n')
    return work_dir


def test_a_run_as_mmengine_drives_it(store, tmp_path):
    work_dir = _work_dir(tmp_path)
    backend = FieldMLflowVisBackend(str(work_dir / 'vis'))
    backend.add_config(Config(dict(work_dir=str(work_dir), a=1)))
    backend.add_scalars({'loss': 2.5, 'lr': 1e-4, 'step': 1}, step=1)
    backend.add_scalars({
        'coco/bbox_mAP': 0.25,
        'coco/ball_mAP_tiny': 0.5
    },
                        step=1)
    backend.close()

    client = MlflowClient(store)
    exp = client.get_experiment_by_name('detr_training')
    assert exp.tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    run = client.get_run(backend.run_id)
    assert run.info.status == 'FINISHED'
    assert run.info.run_name == 'run_a'
    assert run.data.metrics == {
        'train_loss': 2.5,
        'learning_rate': 1e-4,
        'val_map': 0.25,
        'val_ap_ball_tiny': 0.5
    }
    # config.py by add_config; the logs by MMEngine's close
    assert sorted(mlflow_artifacts(client, backend.run_id)) == [
        '20260101_000000/20260101_000000.log',
        '20260101_000000/vis_data/scalars.json', 'config.py'
    ]


def test_run_id_continues_the_run(store, tmp_path):
    work_dir = _work_dir(tmp_path)
    first = FieldMLflowVisBackend(str(work_dir / 'vis'))
    first.add_config(Config(dict(work_dir=str(work_dir))))
    first.add_scalars({'loss': 3.0}, step=1)
    first.close()
    again = FieldMLflowVisBackend(str(work_dir / 'vis'), run_id=first.run_id)
    again.add_config(Config(dict(work_dir=str(work_dir))))
    again.add_scalars({'loss': 2.0}, step=2)
    again.close()
    client = MlflowClient(store)
    (run, ) = client.search_runs(
        [client.get_experiment_by_name('detr_training').experiment_id])
    assert run.info.run_id == first.run_id
    assert [
        m.value
        for m in client.get_metric_history(run.info.run_id, 'train_loss')
    ] == [3.0, 2.0]


def test_a_run_ended_as_failed_stays_failed(store, tmp_path):
    work_dir = _work_dir(tmp_path)
    backend = FieldMLflowVisBackend(str(work_dir / 'vis'))
    backend.add_config(Config(dict(work_dir=str(work_dir))))
    backend.end('FAILED')
    backend.close()  # LoggerHook.after_run still closes the visualizer
    assert MlflowClient(store).get_run(backend.run_id).info.status == 'FAILED'
    assert mlflow.active_run() is None


def test_unreachable_server_warns_once_and_carries_on(tmp_path, monkeypatch):
    monkeypatch.setenv('MLFLOW_TRACKING_URI', 'http://127.0.0.1:9')
    monkeypatch.setenv('MLFLOW_HTTP_REQUEST_TIMEOUT', '2')
    work_dir = _work_dir(tmp_path)
    backend = FieldMLflowVisBackend(str(work_dir / 'vis'))
    with patch.object(MMLogger.get_current_instance(), 'warning') as warn:
        backend.add_config(Config(dict(work_dir=str(work_dir))))
        backend.add_scalars({'loss': 1.0}, step=1)
        backend.close()
    assert backend.failed and not backend.active
    (call, ) = warn.call_args_list
    assert call.args[0].startswith('MLflow tracking failed (connect: ')
    assert os.path.isdir(osp.join(work_dir, '20260101_000000'))
