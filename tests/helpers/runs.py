"""Running the command-line tools as a user does, in subprocesses, and
reading what they leave: shared by the end-to-end tests."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIG = osp.join(ROOT, 'configs', 'detr_r50_field_demo.py')
TINY_CONFIG = osp.join(ROOT, 'tests', 'configs', 'detr_tiny_sanity.py')
# the demo config with a small model: runs about the tools, not the model
SMALL_CONFIG = osp.join(ROOT, 'tests', 'configs', 'detr_demo_small.py')

# In-process data loading (deterministic, and no worker start-up cost), and
# validation after every epoch.
FAST_OPTIONS = [
    'train_dataloader.num_workers=0',
    'val_dataloader.num_workers=0',
    'test_dataloader.num_workers=0',
    'train_cfg.val_interval=1',
    'default_hooks.logger.interval=1',
]

# Runs track into a throw-away MLflow store, never the user's ./mlruns, and
# upload no checkpoints there unless a test asks (tests of tracking do).
MLFLOW_STORE = tempfile.mkdtemp(prefix='field_detr_mlflow_')
TOOL_ENV = {
    'PYTHONUNBUFFERED': '1',
    'MLFLOW_TRACKING_URI': f'sqlite:///{MLFLOW_STORE}/mlflow.db',
    'FIELD_DETR_MLFLOW_CHECKPOINTS': 'none',
    # the demo config starts from COCO-trained DETR when it can fetch it;
    # the suite trains from random initialisation everywhere (the
    # transplant has its own tests, with a test-made checkpoint)
    'FIELD_DETR_COCO_START': '0',
}


def tool_command(script, *args) -> list:
    """``tools/<script>`` with ``args``, run by this interpreter."""
    return [sys.executable, osp.join(ROOT, 'tools', script), *map(str, args)]


def tool_env(env=None) -> dict:
    """The tools' environment: this process's, ``TOOL_ENV``, then ``env``."""
    return {**os.environ, **TOOL_ENV, **(env or {})}


def run_tool(script, *args, check=True, timeout=1800, env=None):
    """Run ``tools/<script>`` with this interpreter; return the result."""
    cmd = tool_command(script, *args)
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=tool_env(env))
    if check and proc.returncode != 0:
        raise AssertionError(f'{" ".join(cmd)} exited {proc.returncode}\n'
                             f'--- stdout\n{proc.stdout[-6000:]}\n'
                             f'--- stderr\n{proc.stderr[-6000:]}')
    return proc


# tests/helpers/fault_injection.py's hooks, importable by the tools
FAULTS_ENV = {'PYTHONPATH': osp.join(ROOT, 'tests', 'helpers')}


def fault_config(path, base, custom_hooks, checkpoint_hook=None):
    """Write a config at ``path``: ``base`` with the fault-injection hooks
    importable, ``custom_hooks`` (a Python literal) and, if given, the
    checkpoint hook replaced. Run it with ``env=FAULTS_ENV``."""
    text = (f'_base_ = {str(base)!r}\n'
            "custom_imports = dict(imports=['field_detr', "
            "'fault_injection'])\n"
            f'custom_hooks = {custom_hooks}\n')
    if checkpoint_hook:
        text += ('default_hooks = dict(checkpoint=dict(_delete_=True, '
                 f'{checkpoint_hook}))\n')
    path.write_text(text)
    return path


def train_args(work_dir,
               *extra,
               config=SMALL_CONFIG,
               data=None,
               options=()) -> list:
    """tools/train.py's arguments for a test run: ``config`` into
    ``work_dir`` on ``data``'s splits, ``extra`` arguments, then
    ``FAST_OPTIONS`` and ``options`` as ``--cfg-options``."""
    args = [config, '--work-dir', work_dir]
    if data is not None:
        args += ['--train-dir', data['train'], '--val-dir', data['val']]
    args += list(extra)
    return args + ['--cfg-options', *FAST_OPTIONS, *options]


def train(work_dir,
          *extra,
          config=SMALL_CONFIG,
          data=None,
          options=(),
          env=None,
          check=True):
    return run_tool(
        'train.py',
        *train_args(
            work_dir, *extra, config=config, data=data, options=options),
        env=env,
        check=check)


def train_stopped(work_dir, config, data, epochs=3):
    """Train ``config`` (a ``fault_config``) for ``epochs`` epochs; it must
    stop with the tools' exit code 2 and no traceback. Returns the result."""
    proc = train(
        work_dir,
        config=config,
        data=data,
        options=[f'train_cfg.max_epochs={epochs}'],
        env=FAULTS_ENV,
        check=False)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr
    return proc


def train_with_fault(work_dir, data, env, fault, epochs=3):
    """Train ``epochs`` epochs of the small demo config through
    tools/train.py in a subprocess; once the first epoch's
    ``latest_checkpoint.pth`` exists, call ``fault()`` (stop a server,
    ...). Returns the exit code and the console output."""
    import time
    cmd = tool_command(
        'train.py',
        *train_args(
            work_dir, data=data, options=[f'train_cfg.max_epochs={epochs}']))
    log = osp.join(work_dir + '.log')
    with open(log, 'w') as out:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=tool_env(env))
        try:
            latest = ckpt(work_dir, 'latest_checkpoint.pth')
            deadline = time.time() + 300
            while not osp.exists(latest) and time.time() < deadline:
                time.sleep(0.2)
            assert osp.exists(latest), 'no checkpoint after epoch 1'
            fault()
            code = proc.wait(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    with open(log) as f:
        return code, f.read()


def scalars(work_dir):
    """The training log records (MMEngine's vis_data/scalars.json)."""
    files = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    records = []
    for path in files:
        with open(path) as f:
            records += [json.loads(line) for line in f if line.strip()]
    return records


def ckpt(work_dir, name):
    return osp.join(work_dir, 'checkpoints', name)
