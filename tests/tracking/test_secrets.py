"""A password in a tracking URI never reaches the console, the work dir,
the MLflow store or its artifacts: real trainings (in process) against
unreachable HTTP and PostgreSQL stores and a password-protected PostgreSQL,
every byte they wrote searched for it."""
import os
import os.path as osp

import pytest

from field_detr.redaction import hide_config_credentials, redact
from helpers.runs import files_holding, train
from helpers.services import PostgresCluster

PASSWORD = 'Pa55-never-shown'
#: the MLflow backend of the small config's visualizer
MLFLOW_BACKEND = 'visualizer.vis_backends.2'


@pytest.mark.parametrize('text, shown', [
    ('postgresql://user:pw@db:5432/mlflow',
     'postgresql://user:***@db:5432/mlflow'),
    ('API request to http://u:p:w@host:1/api failed',
     'API request to http://u:***@host:1/api failed'),
    ('postgresql://db/mlflow?user=u&password=pw&sslmode=require',
     'postgresql://db/mlflow?user=u&password=***&sslmode=require'),
    ('http://user@host:5000 and sqlite:////tmp/mlflow.db',
     'http://user@host:5000 and sqlite:////tmp/mlflow.db'),
])
def test_redact(text, shown):
    assert redact(text) == shown


def test_credential_variables_are_redacted(monkeypatch):
    monkeypatch.setenv('MLFLOW_TRACKING_PASSWORD', PASSWORD)
    assert redact(f'login with {PASSWORD} failed') == 'login with *** failed'


def test_config_keeps_no_password():
    from mmengine.config import Config

    from field_detr.tracking.mlflow_backend import resolve_tracking_uri
    uri = f'postgresql://mlflow:{PASSWORD}@db/mlflow'
    cfg = Config(
        dict(
            visualizer=dict(vis_backends=[
                dict(type='FieldMLflowVisBackend', tracking_uri=uri)
            ])))
    hide_config_credentials(cfg)
    shown = cfg.visualizer.vis_backends[0].tracking_uri
    assert shown == 'postgresql://mlflow:***@db/mlflow'
    assert PASSWORD not in cfg.pretty_text
    env = os.environ.pop('MLFLOW_TRACKING_URI', None)
    try:
        assert resolve_tracking_uri(shown) == uri
    finally:
        if env is not None:
            os.environ['MLFLOW_TRACKING_URI'] = env


def train_with_uri(tmp_path, demo_data, uri, in_config):
    """One epoch of the small config tracking to ``uri``, given through
    ``MLFLOW_TRACKING_URI`` or the config; its console output."""
    artifacts = tmp_path / 'artifacts'
    options = [
        'train_cfg.max_epochs=1',
        f'{MLFLOW_BACKEND}.artifact_location=file://{artifacts}'
    ]
    env = dict(MLFLOW_EXPERIMENT_NAME=f'secrets_{tmp_path.name}')
    if in_config:
        options.append(f'{MLFLOW_BACKEND}.tracking_uri={uri}')
        env['MLFLOW_TRACKING_URI'] = ''
    else:
        env['MLFLOW_TRACKING_URI'] = uri
    proc = train(
        str(tmp_path / 'run'), data=demo_data, options=options, env=env)
    return proc.stdout + proc.stderr


@pytest.mark.parametrize(
    'in_config', [False, True], ids=['in the environment', 'in the config'])
def test_unreachable_server(tmp_path, demo_data, in_config):
    """The failure's message quotes the URI; given in the config, the URI
    is also in the config MMEngine logs and dumps. (An unreachable
    PostgreSQL URI takes MLflow ~2 minutes of retries to give up, and
    psycopg's message leaves the password out.)"""
    uri = f'http://user:{PASSWORD}@127.0.0.1:1'

    console = train_with_uri(tmp_path, demo_data, uri, in_config)
    warnings = [
        line for line in console.splitlines()
        if 'MLflow tracking failed' in line
    ]
    assert len(warnings) == 1, console[-3000:]
    assert PASSWORD not in console
    assert files_holding(PASSWORD, tmp_path) == []
    assert osp.isfile(tmp_path / 'run' / 'checkpoints' /
                      'latest_checkpoint.pth')


@pytest.mark.slow
def test_password_protected_postgresql(tmp_path, demo_data):
    cluster = PostgresCluster(password=PASSWORD)
    try:
        console = train_with_uri(tmp_path, demo_data, cluster.uri, False)
        assert (f'at postgresql://mlflow:***@127.0.0.1:{cluster.port}/mlflow'
                in console), console[-3000:]
        assert PASSWORD not in console
        assert files_holding(PASSWORD, tmp_path) == []
        # the run is complete, and neither its params, tags nor metrics
        # nor anything else in the database hold the password
        import psycopg
        with psycopg.connect(cluster.uri) as conn, conn.cursor() as cur:
            cur.execute("SELECT status FROM runs")
            assert cur.fetchall() == [('FINISHED', )]
            for table in ('params', 'tags', 'experiment_tags', 'experiments',
                          'runs'):
                cur.execute(f'SELECT * FROM {table}')
                assert PASSWORD not in repr(cur.fetchall()), table
        # what was searched holds the uploaded logs and config
        uploaded = {p.name for p in (tmp_path / 'artifacts').rglob('*')}
        assert 'config.py' in uploaded
        assert any(name.endswith('.log') for name in uploaded), uploaded
    finally:
        cluster.close()
