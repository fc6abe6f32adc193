"""Experiment tracking against a real MLflow (embedded SQLite store and a
``mlflow server`` process), TensorBoard events read back with TensorBoard's
reader, and the analysis tools."""
import glob
import json
import os
import os.path as osp
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers.models import assert_detects_as_checkpoint
from helpers.runs import (ROOT, SMALL_CONFIG, ckpt, run_tool, scalars, train,
                          train_with_fault)
from helpers.services import (MlflowServer, free_port, mlflow_artifacts,
                              stop_group, wait_for_http)


def _client(uri):
    from mlflow import MlflowClient
    return MlflowClient(tracking_uri=uri)


@pytest.fixture(scope='module')
def tracked(demo_data, tmp_path_factory):
    """2 epochs into an embedded SQLite store, then --resume to 3."""
    root = tmp_path_factory.mktemp('tracked')
    uri = f'sqlite:///{root}/store/mlflow.db'
    env = dict(MLFLOW_TRACKING_URI=uri, FIELD_DETR_MLFLOW_CHECKPOINTS='all')
    work_dir = str(root / 'work')
    draw = 'default_hooks.visualization.interval=1'  # every val batch
    train(
        work_dir,
        data=demo_data,
        env=env,
        options=['train_cfg.max_epochs=2', draw])
    train(
        work_dir,
        '--resume',
        data=demo_data,
        env=env,
        options=['train_cfg.max_epochs=3', draw])
    return dict(uri=uri, work_dir=work_dir, root=str(root), data=demo_data)


def test_one_run_with_params_metrics_and_artifacts(tracked):
    client = _client(tracked['uri'])
    exp = client.get_experiment_by_name('detr_training')
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1, 'resume must continue the same run'
    run = runs[0]
    assert run.info.status == 'FINISHED'
    assert run.info.run_name == 'work'
    p = run.data.params
    assert p['batch_size'] == '2' and p['lr'] == '0.0001'
    assert p['weight_decay'] == '0.0001' and p['grad_clip_max_norm'] == '0.1'
    assert p['epochs'] == '2' and p['warmup_epochs'] == '1'
    # the small demo config's model (configs/detr_small_field.py)
    assert p['backbone'] == 'ResNet-18' and p['num_queries'] == '100'
    assert p['encoder_layers'] == p['decoder_layers'] == '2'
    assert p['train_images'] == '6' and p['val_images'] == '4'
    assert int(p['train_boxes_player']) + int(p['train_boxes_ball']) == \
        int(p['train_boxes'])
    assert p['torch_version'] and p['device'] == 'cpu'
    assert len(p) < 100

    history = {
        k: [(m.step, m.value)
            for m in client.get_metric_history(run.info.run_id, k)]
        for k in ('train_loss', 'learning_rate', 'learning_rate_backbone',
                  'val_map', 'val_ap_player', 'val_ap_ball', 'memory_ram_mb',
                  'iter_time', 'data_time', 'val_ball_recall_10px',
                  'val_ball_f1_10px', 'val_ball_false_rate',
                  'val_ap_ball_tiny', 'val_ap50_player_medium')
    }
    assert [s for s, _ in history['train_loss']] == list(range(1, 10))
    assert [s for s, _ in history['val_map']] == [3, 6, 9]
    for key in ('val_ap_ball', 'val_ball_recall_10px', 'val_ball_f1_10px',
                'val_ap_ball_tiny', 'val_ap50_player_medium'):
        assert [s for s, _ in history[key]] == [3, 6, 9], key
    assert all(v > 100 for _, v in history['memory_ram_mb'])
    # learning_rate is the config's optimizer.lr (the transformer's, 1e-4
    # at its peak), the backbone's 10x lower (lr_mult 0.1); the cosine's
    # eta_min (1e-6) is the same for both groups, so as the cosine nears
    # its end with the run the two meet
    lr = dict(history['learning_rate'])
    backbone = dict(history['learning_rate_backbone'])
    assert sorted(lr) == sorted(backbone) == list(range(1, 10))
    assert 5e-5 < max(lr.values()) <= 1e-4 * 1.0001
    for step in (1, 2, 3):  # the warm-up epoch: 10x lower
        assert backbone[step] == pytest.approx(lr[step] * 0.1, rel=1e-6)
    # the cosine scales both groups' distance to eta_min alike
    eta = 1e-6
    shares = [(backbone[k] - eta) / (lr[k] - eta) for k in range(4, 10)]
    assert shares == pytest.approx([shares[0]] * 6, rel=1e-3)
    assert lr[9] < 0.3 * max(lr.values())  # the cosine ends with the run
    logged = [r for r in scalars(tracked['work_dir']) if 'loss' in r]
    assert [v for _, v in history['train_loss']
            ] == pytest.approx([r['loss'] for r in logged])

    artifacts = mlflow_artifacts(client, run.info.run_id)
    for name in ('checkpoints/latest_checkpoint.pth',
                 'checkpoints/best_model.pth',
                 'checkpoints/checkpoint_epoch_1_lightweight.pth',
                 'checkpoints/checkpoint_epoch_2.pth', 'config.py',
                 'plots/curves.png'):
        assert name in artifacts, (name, artifacts)
    # the logs, uploaded by MMEngine's MLflowVisBackend.close under their
    # paths in the work dir (<timestamp>/vis_data/scalars.json, ...)
    for suffix in ('/vis_data/scalars.json', '.log'):
        assert any(a.endswith(suffix) for a in artifacts), (suffix, artifacts)
    assert any(a.startswith('images/') for a in artifacts)


def test_guide_snippet_loads_a_working_model(tracked):
    """The snippet from the training guide, as written."""
    code = '''
import mlflow

# Search runs
runs = mlflow.search_runs(experiment_names=["detr_training"])
best_run = runs.loc[runs['metrics.val_map'].idxmax()]

# Load model from MLflow
model = mlflow.pytorch.load_model(f"runs:/{best_run.run_id}/model")
import torch
torch.save(model.state_dict(), OUT)
'''
    out = osp.join(tracked['root'], 'loaded.pth')
    subprocess.run([sys.executable, '-c', f'OUT = {out!r}\n' + code],
                   check=True,
                   cwd=tracked['root'],
                   env={
                       **os.environ, 'MLFLOW_TRACKING_URI': tracked['uri']
                   })
    import torch
    loaded = torch.load(out, weights_only=True)
    best = torch.load(
        ckpt(tracked['work_dir'], 'best_model.pth'),
        weights_only=True)['state_dict']
    assert loaded.keys() == best.keys()
    for key in best:
        assert torch.equal(loaded[key], best[key]), key


def test_mlflow_model_detects_like_the_checkpoint(tracked):
    import mlflow
    mlflow.set_tracking_uri(tracked['uri'])
    run = mlflow.search_runs(experiment_names=['detr_training']).iloc[0]
    model = mlflow.pytorch.load_model(f'runs:/{run.run_id}/model')
    assert_detects_as_checkpoint(
        model, ckpt(tracked['work_dir'], 'best_model.pth'),
        osp.join(tracked['data']['val'], 'images', '000001.jpg'))


def test_tensorboard_events(tracked):
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator
    files = glob.glob(
        osp.join(tracked['work_dir'], '*', 'vis_data',
                 'events.out.tfevents.*'))
    assert len(files) == 2  # the first run and the resumed one
    scalars_by_tag, images = {}, 0
    for path in files:
        acc = EventAccumulator(path, size_guidance={'scalars': 0, 'images': 0})
        acc.Reload()
        for tag in acc.Tags()['scalars']:
            scalars_by_tag.setdefault(tag, []).extend(
                e.step for e in acc.Scalars(tag))
        images += sum(len(acc.Images(t)) for t in acc.Tags()['images'])
    assert sorted(scalars_by_tag['train_loss']) == list(range(1, 10))
    assert sorted(scalars_by_tag['learning_rate']) == list(range(1, 10))
    assert sorted(scalars_by_tag['learning_rate_backbone']) == list(
        range(1, 10))
    assert sorted(scalars_by_tag['val_map']) == [3, 6, 9]
    assert 'val_ap_player' in scalars_by_tag
    assert sorted(scalars_by_tag['val_ball_recall_10px']) == [3, 6, 9]
    assert sorted(scalars_by_tag['val_ap_ball_tiny']) == [3, 6, 9]
    assert 'memory_ram_mb' in scalars_by_tag
    assert images == 6  # 2 validation batches drawn, 3 validations


def test_analysis_tools_plot_our_curves(tracked, tmp_path):
    from field_detr.tracking.curves import curve, load_scalars, plot_curves
    logs = sorted(
        glob.glob(
            osp.join(tracked['work_dir'], '*', 'vis_data', 'scalars.json')))
    out = tmp_path / 'curves.png'
    proc = run_tool('analysis_tools/analyze_logs.py', 'plot_curve', logs[0],
                    '--keys', 'train_loss', 'val_map', 'learning_rate',
                    '--out', out)
    assert 'train_loss: 6 points, val_map: 2 points, learning_rate: 6 ' \
        'points' in proc.stdout
    with Image.open(out) as im:
        im.verify()
    records = load_scalars(logs[0])
    data = plot_curves([logs[0]], ['train_loss', 'coco/bbox_mAP'],
                       str(tmp_path / 'b.png'))[logs[0]]
    steps, values = data['train_loss']
    assert list(steps) == [1, 2, 3, 4, 5, 6]
    assert list(values) == [r['loss'] for r in records if 'loss' in r]
    assert list(curve(records, 'val_map')[0]) == [3, 6]

    proc = run_tool('analysis_tools/analyze_logs.py', 'cal_train_time',
                    logs[0])
    stats = json.loads(proc.stdout.split('\n', 1)[1])
    times = [r['time'] for r in records if 'loss' in r]
    assert stats['iterations'] == 6
    assert stats['mean'] == pytest.approx(np.mean(times))


def test_pr_curves_and_confusion_matrix(tracked, tmp_path):
    results = str(tmp_path / 'results.json')
    run_tool('test.py', SMALL_CONFIG,
             ckpt(tracked['work_dir'], 'latest_checkpoint.pth'), '--test-dir',
             tracked['data']['val'], '--out', results, '--work-dir',
             tmp_path / 'test', '--cfg-options',
             'test_dataloader.num_workers=0')
    ann = osp.join(tracked['data']['val'], 'annotations', 'annotations.json')
    out_dir = tmp_path / 'analysis'
    run_tool('analysis_tools/analyze_results.py', results, ann, '--out-dir',
             out_dir, '--score-thr', '0.0')
    for name in ('pr_curves.png', 'confusion_matrix.png'):
        with Image.open(out_dir / name) as im:
            im.verify()
    cm = json.loads((out_dir / 'confusion_matrix.json').read_text())
    coco = json.loads(open(ann).read())
    matrix = np.array(cm['matrix'])
    n_player = sum(a['category_id'] == 1 for a in coco['annotations'])
    n_ball = sum(a['category_id'] == 2 for a in coco['annotations'])
    # every ground-truth box is counted once in its row
    assert matrix[0].sum() == n_player and matrix[1].sum() == n_ball
    # every detection (threshold 0) is counted once in its column
    dets = json.loads(open(results).read())
    assert matrix[:, :2].sum() == len(dets)
    pr = json.loads((out_dir / 'pr_curves.json').read_text())
    assert set(pr) == {'player', 'ball'}
    assert len(pr['player']['0.5']['recall']) == 101


@pytest.fixture(scope='module')
def mlflow_server(tmp_path_factory):
    """``mlflow server`` on 127.0.0.1 with a SQLite backend store and a
    local artifacts destination, as a team would run it; started once for
    this module's two tests (the second kills it)."""
    root = tmp_path_factory.mktemp('mlflow_server')
    server = MlflowServer(f'sqlite:///{root}/server.db',
                          str(root / 'artifacts'), str(root / 'server.log'))
    yield dict(url=server.url, proc=server.proc)
    server.close()


@pytest.mark.slow
def test_training_against_a_tracking_server(mlflow_server, demo_data,
                                            tmp_path):
    work_dir = str(tmp_path / 'remote')
    train(
        work_dir,
        data=demo_data,
        env=dict(
            MLFLOW_TRACKING_URI=mlflow_server['url'],
            MLFLOW_EXPERIMENT_NAME='team_runs',
            FIELD_DETR_MLFLOW_CHECKPOINTS='milestones'),
        options=['train_cfg.max_epochs=1'])
    client = _client(mlflow_server['url'])
    exp = client.get_experiment_by_name('team_runs')
    run = client.search_runs([exp.experiment_id])[0]
    assert run.info.status == 'FINISHED'
    assert run.data.params['train_images'] == '6'
    assert [
        m.step
        for m in client.get_metric_history(run.info.run_id, 'train_loss')
    ] == [1, 2, 3]
    artifacts = mlflow_artifacts(client, run.info.run_id)
    assert 'checkpoints/latest_checkpoint.pth' in artifacts
    # 'milestones' (the default) leaves the per-epoch lightweight files out
    assert not any(a.endswith('_lightweight.pth') for a in artifacts)


@pytest.mark.slow
def test_training_survives_the_server_dying(mlflow_server, demo_data,
                                            tmp_path):
    work_dir = str(tmp_path / 'orphan')
    code, text = train_with_fault(
        work_dir, demo_data, dict(MLFLOW_TRACKING_URI=mlflow_server['url']),
        lambda: os.killpg(mlflow_server['proc'].pid, signal.SIGKILL))
    assert code == 0, text[-3000:]
    latest = ckpt(work_dir, 'latest_checkpoint.pth')
    assert text.count('MLflow tracking failed') == 1, text[-3000:]
    assert 'Traceback' not in text
    import torch
    assert torch.load(latest, weights_only=True)['meta']['epoch'] == 3


#: Debian's Chromium, driven headless by playwright
CHROMIUM = '/usr/bin/chromium'
#: screenshots of the UI tests, kept for people to look at
SCREENSHOTS = osp.join(ROOT, 'work_dirs', 'test_outputs', 'mlflow_ui')


def _start_ui(store):
    """tools/start_mlflow_ui.sh on a free port; returns the process and the
    training-runs address it printed."""
    port = free_port()
    proc = subprocess.Popen([
        'bash',
        osp.join(ROOT, 'tools', 'start_mlflow_ui.sh'), '--port',
        str(port), '--store', store
    ],
                            stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL,
                            text=True,
                            start_new_session=True)
    runs_url = None
    for line in proc.stdout:
        if line.startswith('training runs: '):
            runs_url = line.split(': ', 1)[1].strip()
            break
    assert runs_url, 'start_mlflow_ui.sh printed no training-runs address'
    wait_for_http(f'http://127.0.0.1:{port}/health', 'mlflow ui', proc=proc)
    return proc, runs_url


def _close_assistant(page) -> None:
    """Fold MLflow's assistant side panel, if it is open, so that the
    screenshots show the page."""
    close = page.locator('button[aria-label="Close"]')
    if close.count():
        close.first.click()


@pytest.mark.slow
def test_mlflow_ui_in_a_browser(tracked):
    """The resumed run (2 epochs, then --resume to 3) as a user sees it in
    Chromium: the experiment opens on its runs table with one run; the run
    page shows its params, metrics and artifacts."""
    from mlflow import MlflowClient
    from playwright.sync_api import expect, sync_playwright
    if not osp.exists(CHROMIUM):
        pytest.fail(
            f'{CHROMIUM} not found: tools/setup_test_services.sh installs '
            "Debian's chromium",
            pytrace=False)
    client = MlflowClient(tracking_uri=tracked['uri'])
    exp = client.get_experiment_by_name('detr_training')
    assert exp.tags['mlflow.experimentKind'] == 'custom_model_development'
    os.makedirs(SCREENSHOTS, exist_ok=True)
    proc, runs_url = _start_ui(tracked['uri'])
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=['--no-sandbox'])
            page = browser.new_page(viewport={'width': 1280, 'height': 800})
            page.goto(runs_url)
            # the runs table, not the GenAI overview: one row, our run
            expect(page.get_by_text('Run Name')).to_be_visible(timeout=60_000)
            assert 'Tool calls' not in page.inner_text('body')  # GenAI
            expect(page.get_by_role('link', name='work',
                                    exact=True)).to_have_count(1)
            expect(page.get_by_text('1 matching run')).to_be_visible()
            _close_assistant(page)
            page.screenshot(path=osp.join(SCREENSHOTS, 'experiment.png'))

            page.get_by_role('link', name='work', exact=True).click()
            for text in ('batch_size', 'lr', 'train_loss', 'val_map',
                         'val_ball_recall_10px'):
                expect(page.get_by_text(
                    text, exact=True).first).to_be_visible(timeout=60_000)
            page.screenshot(path=osp.join(SCREENSHOTS, 'run.png'))

            page.get_by_role('tab', name='Artifacts').click()
            log_dir = sorted(
                d for d in os.listdir(tracked['work_dir'])
                if re.fullmatch(r'\d{8}_\d{6}', d))[0]
            for text in ('checkpoints', log_dir, 'config.py'):
                expect(page.get_by_text(
                    text, exact=True).first).to_be_visible(timeout=60_000)
            page.screenshot(path=osp.join(SCREENSHOTS, 'artifacts.png'))

            # MLflow 3 lists logged models on the experiment's Models page
            page.goto(runs_url.replace('?', '/models?'))
            expect(page.get_by_text(
                'model', exact=True).first).to_be_visible(timeout=60_000)
            expect(page.get_by_text('work', exact=True).first).to_be_visible()
            page.screenshot(path=osp.join(SCREENSHOTS, 'models.png'))
            browser.close()
    finally:
        stop_group(proc)
    # the page's run is the resumed one: its history has every step once
    (run, ) = client.search_runs([exp.experiment_id])
    steps = [
        m.step
        for m in client.get_metric_history(run.info.run_id, 'train_loss')
    ]
    assert steps == list(range(1, 10))
