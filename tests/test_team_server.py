"""A team's MLflow server on PostgreSQL: a throw-away cluster (Debian's
server binaries), ``mlflow server --backend-store-uri postgresql://...``,
training against it, docs/tracking.md's snippet reading it back, and
PostgreSQL stopped in the middle of a run."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from helpers.runs import ckpt, train, train_with_fault
from helpers.services import MlflowServer, PostgresCluster

pytestmark = pytest.mark.slow


@pytest.fixture
def team_server(tmp_path):
    cluster = PostgresCluster()
    try:
        server = MlflowServer(cluster.uri, str(tmp_path / 'artifacts'),
                              str(tmp_path / 'server.log'))
    except BaseException:
        cluster.close()
        raise
    yield dict(url=server.url, cluster=cluster, log=tmp_path / 'server.log')
    server.close()
    cluster.close()


def test_training_on_a_postgresql_backed_server(team_server, demo_data,
                                                tmp_path):
    work_dir = str(tmp_path / 'run')
    train(
        work_dir,
        data=demo_data,
        env=dict(MLFLOW_TRACKING_URI=team_server['url']),
        options=['train_cfg.max_epochs=1'])
    # docs/tracking.md's snippet, as a user runs it against the server
    code = '''
import mlflow
runs = mlflow.search_runs(experiment_names=["detr_training"])
best_run = runs.loc[runs['metrics.val_map'].idxmax()]
model = mlflow.pytorch.load_model(f"runs:/{best_run.run_id}/model")
import torch
torch.save(model.state_dict(), OUT)
print(best_run.status, len(runs))
'''
    out = str(tmp_path / 'loaded.pth')
    proc = subprocess.run([sys.executable, '-c', f'OUT = {out!r}\n' + code],
                          check=True,
                          capture_output=True,
                          text=True,
                          cwd=str(tmp_path),
                          env={
                              **os.environ, 'MLFLOW_TRACKING_URI':
                              team_server['url']
                          })
    assert proc.stdout.split()[-2:] == ['FINISHED', '1']
    loaded = torch.load(out, weights_only=True)
    best = torch.load(
        ckpt(work_dir, 'best_model.pth'), weights_only=True)['state_dict']
    assert loaded.keys() == best.keys()
    assert all(torch.equal(loaded[k], best[k]) for k in best)
    # the runs live in PostgreSQL, not in a file next to the server
    import psycopg
    with psycopg.connect(team_server["cluster"].uri) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM runs WHERE status='FINISHED'")
            assert cur.fetchone()[0] == 1


def test_postgresql_stopping_mid_run(team_server, demo_data, tmp_path):
    """PostgreSQL stops after the first epoch: training finishes with its
    checkpoints and one tracking warning; started again, the database holds
    what the run logged before the stop."""
    cluster = team_server['cluster']
    work_dir = str(tmp_path / 'run')
    code, text = train_with_fault(work_dir, demo_data,
                                  dict(MLFLOW_TRACKING_URI=team_server['url']),
                                  cluster.stop)
    assert code == 0, text[-3000:]
    assert text.count('MLflow tracking failed') == 1, text[-3000:]
    assert 'Traceback' not in text
    latest = ckpt(work_dir, 'latest_checkpoint.pth')
    assert torch.load(latest, weights_only=True)['meta']['epoch'] == 3
    for name in ('checkpoint_epoch_3.pth', 'best_model.pth',
                 'checkpoint_epoch_2_lightweight.pth',
                 'checkpoint_epoch_3_lightweight.pth'):
        assert osp.exists(ckpt(work_dir, name)), name

    cluster.start()
    from mlflow import MlflowClient
    client = MlflowClient(tracking_uri=team_server['url'])
    exp = client.get_experiment_by_name('detr_training')
    (run, ) = client.search_runs([exp.experiment_id])
    assert run.data.params['train_images'] == '6'
    steps = [
        m.step
        for m in client.get_metric_history(run.info.run_id, 'train_loss')
    ]
    # epoch 1 (iterations 1-3) was logged before the stop
    assert steps[:3] == [1, 2, 3], steps
