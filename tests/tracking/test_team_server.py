"""A team's MLflow server as docs/tracking.md sets it up: MLflow's
basic-auth app (``mlflow server --app-name basic-auth``) on a
password-protected PostgreSQL (a throw-away cluster of Debian's server
binaries), one user created by the admin. Anonymous requests refused, a
wrong password stopping the run before training, a training tracked
completely with the user's credentials and read back by docs/tracking.md's
snippet, no password in anything the run wrote, and PostgreSQL stopped in
the middle of a run."""
import os
import os.path as osp
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
import torch

from helpers.runs import ckpt, files_holding, train, train_with_fault
from helpers.services import MlflowServer, PostgresCluster

pytestmark = pytest.mark.slow

#: docs/tracking.md's basic_auth.ini
AUTH_INI = """[mlflow]
default_permission = READ
database_uri = sqlite:///{users}
admin_username = admin
admin_password = {password}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
auth_cache_ttl_seconds = 60
"""
PG_PASSWORD = 'pg-Pa55-4e1'
ADMIN_PASSWORD = 'admin-Pa55-9f3'
USER, PASSWORD = 'ana', 'ana-Pa55-71c'


@pytest.fixture(scope='module')
def team_server(tmp_path_factory):
    root = tmp_path_factory.mktemp('team_server')
    ini = root / 'basic_auth.ini'
    ini.write_text(
        AUTH_INI.format(users=root / 'users.db', password=ADMIN_PASSWORD))
    cluster = PostgresCluster(password=PG_PASSWORD)
    try:
        server = MlflowServer(cluster.uri, str(root / 'artifacts'),
                              str(root / 'server.log'), str(ini))
    except BaseException:
        cluster.close()
        raise
    # the admin creates the team's user (docs/tracking.md)
    code = ('import sys\n'
            'from mlflow.server.auth.client import AuthServiceClient\n'
            'AuthServiceClient(sys.argv[1]).create_user(*sys.argv[2:])\n')
    subprocess.run(
        [sys.executable, '-c', code, server.url, USER, PASSWORD],
        check=True,
        capture_output=True,
        env={
            **os.environ, 'MLFLOW_TRACKING_USERNAME': 'admin',
            'MLFLOW_TRACKING_PASSWORD': ADMIN_PASSWORD
        })
    yield dict(url=server.url, cluster=cluster, artifacts=root / 'artifacts')
    server.close()
    cluster.close()


def credentials(server, password=PASSWORD, **more):
    """A training machine's environment: the server, the user and its
    password, nothing of them in the URI."""
    return dict(
        MLFLOW_TRACKING_URI=server['url'],
        MLFLOW_TRACKING_USERNAME=USER,
        MLFLOW_TRACKING_PASSWORD=password,
        **more)


def test_anonymous_request_is_refused(team_server):
    url = (
        team_server['url'] +
        '/api/2.0/mlflow/experiments/get-by-name?experiment_name=x')
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url, timeout=10)
    assert info.value.code == 401


def test_wrong_password_stops_before_training(team_server, demo_data,
                                              tmp_path):
    work_dir = str(tmp_path / 'run')
    proc = train(
        work_dir,
        data=demo_data,
        env=credentials(team_server, 'not-the-password'),
        options=['train_cfg.max_epochs=1'],
        check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        f'error: MLflow at {team_server["url"]} refused the credentials '
        '(401: no or a wrong user/password): set MLFLOW_TRACKING_USERNAME '
        'and MLFLOW_TRACKING_PASSWORD to an account of that server '
        '(docs/tracking.md)')
    assert not osp.exists(ckpt(work_dir, 'latest_checkpoint.pth'))


def test_training_on_the_team_server(team_server, demo_data, tmp_path):
    work_dir = str(tmp_path / 'run')
    env = credentials(team_server)
    proc = train(
        work_dir, data=demo_data, env=env, options=['train_cfg.max_epochs=1'])
    console = proc.stdout + proc.stderr
    assert 'MLflow tracking failed' not in console, console[-3000:]
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
    snippet = subprocess.run([sys.executable, '-c', f'OUT = {out!r}\n' + code],
                             check=True,
                             capture_output=True,
                             text=True,
                             cwd=str(tmp_path),
                             env={
                                 **os.environ,
                                 **env
                             })
    assert snippet.stdout.split()[-2:] == ['FINISHED', '1']
    loaded = torch.load(out, weights_only=True)
    best = torch.load(
        ckpt(work_dir, 'best_model.pth'), weights_only=True)['state_dict']
    assert loaded.keys() == best.keys()
    assert all(torch.equal(loaded[k], best[k]) for k in best)
    # the runs live in PostgreSQL, not in a file next to the server
    import psycopg
    with psycopg.connect(team_server['cluster'].uri) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM runs JOIN experiments USING "
                        "(experiment_id) WHERE experiments.name = "
                        "'detr_training' AND status = 'FINISHED'")
            assert cur.fetchone()[0] == 1
    # no password in the console, the work dir or the run's artifacts
    for password in (PASSWORD, PG_PASSWORD, ADMIN_PASSWORD):
        assert password not in console
        assert files_holding(password, work_dir,
                             team_server['artifacts']) == []


def test_postgresql_stopping_mid_run(team_server, demo_data, tmp_path,
                                     monkeypatch):
    """PostgreSQL stops after the first epoch: training finishes with its
    checkpoints and one tracking warning; started again, the database holds
    what the run logged before the stop."""
    cluster = team_server['cluster']
    work_dir = str(tmp_path / 'run')
    env = credentials(team_server, MLFLOW_EXPERIMENT_NAME='stopped_db')
    code, text = train_with_fault(work_dir, demo_data, env, cluster.stop)
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
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    from mlflow import MlflowClient
    client = MlflowClient(tracking_uri=team_server['url'])
    exp = client.get_experiment_by_name('stopped_db')
    (run, ) = client.search_runs([exp.experiment_id])
    assert run.data.params['train_images'] == '6'
    steps = [
        m.step
        for m in client.get_metric_history(run.info.run_id, 'train_loss')
    ]
    # epoch 1 (iterations 1-3) was logged before the stop
    assert steps[:3] == [1, 2, 3], steps
