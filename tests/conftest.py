"""Shared fixtures: generated data and real (short) training runs.

Runs go through the command-line tools' ``main(argv)`` in this process
(``helpers/runs.py``).
"""
import glob
import json
import os
import os.path as osp
import shutil

import pytest

from helpers.runs import DINO_SMALL, MLFLOW_STORE, one_thread, run_tool, train


def pytest_configure(config):
    """Under pytest-xdist (``tools/run_tests.sh`` runs one worker per core),
    each worker and the tools it starts get an equal share of the cores:
    torch's default, a thread per core in every worker, would oversubscribe
    them."""
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if workers > 1:
        import torch
        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ['OMP_NUM_THREADS'] = str(threads)
        torch.set_num_threads(threads)


# The test modules that use the ``learned`` model: one work unit under
# pytest-xdist, so that it is trained once.
LEARNED_MODULES = ('tests/e2e/test_learning.py',
                   'tests/inference/test_sliced_inference.py',
                   'tests/inference/test_supervision.py')


def _work_unit(nodeid):
    """A test's xdist work unit: ``learned`` or its module."""
    module = nodeid.split('::')[0]
    return 'learned' if module in LEARNED_MODULES else module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Work units of whole modules (module and session fixtures computed
    once per module), the ``learned`` modules as one; in collection order
    (``pytest_collection_modifyitems``). MMDetection-sized fixtures make
    per-test units dearer than the balance they buy."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleUnits(LoadScopeScheduling):

        def _split_scope(self, nodeid):
            return _work_unit(nodeid)

    return ModuleUnits(config, log)


def pytest_collection_modifyitems(config, items):
    """The units with slow tests first, the ``learned`` one leading, so the
    longest chains start at once; a test that uses ``learned`` outside
    ``LEARNED_MODULES`` is an error (it would train the model again)."""
    for item in items:
        if ('learned' in item.fixturenames
                and _work_unit(item.nodeid) != 'learned'):
            raise pytest.UsageError(
                f'{item.nodeid} uses the learned model: add its module to '
                'LEARNED_MODULES in tests/conftest.py')
    slow = {
        _work_unit(i.nodeid)
        for i in items if i.get_closest_marker('slow')
    }
    items.sort(key=lambda i: (_work_unit(i.nodeid) != 'learned',
                              _work_unit(i.nodeid) not in slow))


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(MLFLOW_STORE, ignore_errors=True)


@pytest.fixture(scope='session')
def demo_data(tmp_path_factory):
    """A small generated dataset: 6 training and 4 validation images."""
    from field_detr.datasets.demo_data import make_demo_dataset
    root = tmp_path_factory.mktemp('data')
    train_dir, val_dir = make_demo_dataset(
        str(root), splits=(('train', 6, 0), ('val', 4, 1)))
    return dict(root=str(root), train=train_dir, val=val_dir)


@pytest.fixture(scope='session')
def demo_run(demo_data, tmp_path_factory):
    """Three epochs of the demo config with a small model
    (``configs/detr_small_field.py``) through tools/train.py (3
    iterations each), a full checkpoint every 2 epochs, the 2 newest
    lightweight ones kept."""
    work_dir = str(tmp_path_factory.mktemp('demo_run'))
    proc = train(
        work_dir,
        data=demo_data,
        options=[
            'train_cfg.max_epochs=3',
            'default_hooks.checkpoint.full_interval=2',
            'default_hooks.checkpoint.keep_lightweight=2'
        ])
    return dict(work_dir=work_dir, proc=proc, data=demo_data)


#: The learned model's run: the small DINO with its ball head (the demo's
#: model) for LEARNED_EPOCHS epochs of 16 generated frames at batch 2 (8
#: iterations an epoch), its warm-up + cosine schedule stretched to the run:
#: the ball benchmark's split and budget (eval_ball_head.py --config
#: tests/configs/dino_small.py --train-images 16 --iters 800). This
#: training is the suite's longest chain (8.3 minutes on a worker's thread
#: of one machine, 6.5 at 600 iterations), but at 600 the held-out player
#: AP@0.5 the learning test asserts ranged 0.786-0.857 from machine to
#: machine, about its floor of 0.8 (test_learning.py).
LEARNED_EPOCHS = 100


def _train_learned(work_dir: str, split: str, epochs: int) -> None:
    """On one torch thread however the tests run: under
    ``tools/run_tests.sh`` each of two workers has one, and a learned module
    run alone must train that same model, whose detections and tracks the
    tests read."""
    with one_thread():
        train(
            work_dir,
            config=DINO_SMALL,
            data=dict(train=split, val=split),
            options=[
                f'train_cfg.max_epochs={epochs}',
                f'train_cfg.val_interval={epochs}',
                'default_hooks.logger.interval=10'
            ])


@pytest.fixture(scope='session')
def learned(tmp_path_factory):
    """Train the small DINO with its ball head on 16 generated frames (800
    iterations, 8 minutes and more on a core), then run
    tools/test.py on them. Shared by the learning (held-out frames),
    sliced-inference and supervision (annotator, ByteTrack) tests."""
    from field_detr.datasets.demo_data import write_split
    root = tmp_path_factory.mktemp('sanity')
    split = str(root / 'pitch')
    # demo_data.split_layouts(**layout) gives the scenes back (for clips)
    layout = dict(num_images=16, seed=7, empty_every=0)
    write_split(split, **layout)
    work_dir = str(root / 'work')
    epochs = LEARNED_EPOCHS
    _train_learned(work_dir, split, epochs)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    out = str(root / 'results.json')
    out_metrics = str(root / 'metrics.json')
    test_dir = str(root / 'test')
    proc = run_tool('test.py', DINO_SMALL, checkpoint, '--test-dir', split,
                    '--out', out, '--out-metrics', out_metrics, '--work-dir',
                    test_dir, '--cfg-options', 'test_dataloader.num_workers=0')
    # MMEngine's LoggerHook writes the test metrics to <ts>/<ts>.json
    logged = glob.glob(osp.join(test_dir, '*', '*.json'))
    assert len(logged) == 1
    with open(logged[0]) as f:
        metrics = json.load(f)
    return dict(
        split=split,
        layout=layout,
        work_dir=work_dir,
        checkpoint=checkpoint,
        out=out,
        out_metrics=out_metrics,
        proc=proc,
        metrics=metrics)
