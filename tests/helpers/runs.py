"""Running the command-line tools as a user does and reading what they
leave: shared by the end-to-end tests.

:func:`run_tool` calls a tool's ``main(argv)`` in the test process (the
imports are paid once, not per run); :func:`start_forked_tool` runs it in
a forked copy of the test process, for the tests whose subject is a
process that is killed, runs beside others or outlives a server (a real
process, without a new interpreter's imports); :func:`run_tool_process`
starts a new interpreter, for the tests of the command line itself and
of torchrun.
"""
import contextlib
import glob
import importlib.util
import io
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MAIN_CONFIG = osp.join(ROOT, 'configs', 'detr_r50_field.py')
DEMO_CONFIG = osp.join(ROOT, 'configs', 'detr_r50_field_demo.py')
TINY_CONFIG = osp.join(ROOT, 'tests', 'configs', 'detr_tiny_sanity.py')
# the demo config with a small model: runs about the tools, not the model
SMALL_CONFIG = osp.join(ROOT, 'configs', 'detr_small_field.py')
# the small DINO with its ball head (the small-budget model, as it is)
DINO_SMALL = osp.join(ROOT, 'tests', 'configs', 'dino_small.py')

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


def _check(result, check):
    if check and result.returncode != 0:
        raise AssertionError(
            f'{" ".join(map(str, result.args))} exited {result.returncode}\n'
            f'--- stdout\n{result.stdout[-6000:]}\n'
            f'--- stderr\n{result.stderr[-6000:]}')
    return result


def run_tool_process(script, *args, check=True, timeout=1800, env=None):
    """Run ``tools/<script>`` in a new process with this interpreter;
    return the ``subprocess.CompletedProcess``."""
    proc = subprocess.run(
        tool_command(script, *args),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=tool_env(env))
    return _check(proc, check)


_TOOLS = {}
# Python's warning filters as a new process has them (pytest replaces them
# while a test runs)
_PROCESS_FILTERS = list(warnings.filters)


def tool_main(script):
    """``tools/<script>``'s ``main``, its module loaded once."""
    if script not in _TOOLS:
        name = 'tools_' + script[:-3].replace('/', '_')
        spec = importlib.util.spec_from_file_location(
            name, osp.join(ROOT, 'tools', script))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _TOOLS[script] = module
    return _TOOLS[script].main


def _show_warning(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(
        warnings.formatwarning(message, category, filename, lineno, line))


@contextlib.contextmanager
def _tool_process_state(env):
    """What a new process gives a tool: ``tool_env(env)``'s variables
    (``PYTHONPATH`` entries importable), Python's default warning filters
    (each warning printed to stderr, as if never seen), torch's
    non-deterministic default and a logger of its own for what it says
    before MMEngine's Runner makes one; all restored afterwards."""
    import mlflow
    import torch
    from mmengine.logging import MMLogger
    variables = {**TOOL_ENV, **(env or {})}
    saved_env = {k: os.environ.get(k) for k in variables}
    saved_path = list(sys.path)
    deterministic = torch.are_deterministic_algorithms_enabled()
    os.environ.update(variables)
    if 'PYTHONPATH' in variables:
        sys.path[:0] = variables['PYTHONPATH'].split(os.pathsep)
    try:
        with warnings.catch_warnings():
            warnings.filters[:] = _PROCESS_FILTERS
            warnings.showwarning = _show_warning
            MMLogger.get_instance(f'tool_{time.time_ns()}')
            yield
    finally:
        while mlflow.active_run() is not None:  # as mlflow's atexit does
            mlflow.end_run()
        torch.use_deterministic_algorithms(deterministic)
        sys.path[:] = saved_path
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _unique_experiment(script, args):
    """``args`` with a unique experiment and visualizer name for a tool
    that builds a Runner. MMEngine keys its logger and message hub by the
    experiment name (the config's name and a timestamp to the second) and
    the visualizer by its name (``'visualizer'`` in MMDetection's configs):
    a second run in the same process would get the first one's, and write
    its scalars into the first run's folder."""
    if script not in ('train.py', 'test.py'):
        return args
    name = f'{script[:-3]}_{time.time_ns()}'
    names = [f'experiment_name={name}', f'visualizer.name={name}']
    if '--cfg-options' not in args:
        return [*args, '--cfg-options', *names]
    at = args.index('--cfg-options') + 1
    return [*args[:at], *names, *args[at:]]


def _call_main(main, argv) -> int:
    """``main(argv)``'s exit status as a process would have it: the code
    of ``SystemExit`` (a message printed to stderr, status 1), 1 and the
    traceback on stderr for an uncaught exception."""
    try:
        main(argv)
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
        return e.code if isinstance(e.code, int) else int(e.code is not None)
    except Exception:
        traceback.print_exc()
        return 1
    return 0


def run_tool(script, *args, check=True, env=None):
    """Run ``tools/<script>``'s ``main(argv)`` in this process, as
    ``run_tool_process`` runs it in a new one: same environment, console
    output captured, the exit status from ``SystemExit`` (1 and the
    traceback on stderr for an uncaught exception). Returns a
    ``subprocess.CompletedProcess``."""
    args = [str(a) for a in args]
    argv = _unique_experiment(script, args)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            _tool_process_state(env):
        code = _call_main(tool_main(script), argv)
    result = subprocess.CompletedProcess(
        tool_command(script, *args), code, out.getvalue(), err.getvalue())
    return _check(result, check)


class ForkedTool:
    """A tool's ``main(argv)`` running in a forked copy of the test
    process (:func:`start_forked_tool`); ``returncode`` as ``Popen``'s:
    the exit status, or minus the signal that killed it."""

    def __init__(self, pid, args, out_path, err_path):
        self.pid, self.args = pid, args
        self.out_path, self.err_path = out_path, err_path
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.time() + timeout
        while self.poll() is None:
            if deadline is not None and time.time() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(0.1)
        return self.returncode

    def kill(self):
        if self.poll() is None:
            os.kill(self.pid, 9)
            self.wait()

    def result(self, timeout=None, check=False):
        """Wait; a ``subprocess.CompletedProcess`` with the output."""
        try:
            self.wait(timeout)
        finally:
            self.kill()
        with open(self.out_path) as out, open(self.err_path) as err:
            result = subprocess.CompletedProcess(self.args, self.returncode,
                                                 out.read(), err.read())
        shutil.rmtree(osp.dirname(self.out_path), ignore_errors=True)
        return _check(result, check)


@contextlib.contextmanager
def one_thread():
    """Torch on one thread inside, its count restored after: a run's float
    sums, and so what it trains, depend on the thread count; forked tools
    and the suite's workers train on one."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def start_forked_tool(script, *args, env=None, stderr_to_stdout=False):
    """Start ``tools/<script>``'s ``main(argv)`` in a forked copy of this
    process, with ``run_tool``'s environment and exit statuses; its console
    output goes to files (``ForkedTool.result`` reads them). The child runs
    torch on one thread, as the suite's workers do (``conftest.py``): an
    OpenMP thread pool of the parent does not survive the fork, and the
    child's first parallel region would wait for it for ever."""
    args = [str(a) for a in args]
    argv = _unique_experiment(script, args)
    import torch
    main = tool_main(script)
    folder = tempfile.mkdtemp(prefix='field_detr_fork_')
    out_path = osp.join(folder, 'stdout')
    err_path = out_path if stderr_to_stdout else osp.join(folder, 'stderr')
    open(out_path, 'w').close()
    open(err_path, 'w').close()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return ForkedTool(pid, tool_command(script, *args), out_path, err_path)
    code = 1
    try:  # the child: never back into pytest
        torch.set_num_threads(1)
        out = os.open(out_path, os.O_WRONLY | os.O_APPEND)
        err = os.open(err_path, os.O_WRONLY | os.O_APPEND)
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.stdout = open(1, 'w', buffering=1, closefd=False)
        sys.stderr = open(2, 'w', buffering=1, closefd=False)
        with _tool_process_state(env):
            code = _call_main(main, argv)
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


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
    tools/train.py in a process of its own (``start_forked_tool``); once
    the first epoch's ``latest_checkpoint.pth`` exists, call ``fault()``
    (stop a server, ...). Returns the exit code and the console output."""
    proc = start_forked_tool(
        'train.py',
        *train_args(
            work_dir, data=data, options=[f'train_cfg.max_epochs={epochs}']),
        env=env,
        stderr_to_stdout=True)
    try:
        latest = ckpt(work_dir, 'latest_checkpoint.pth')
        deadline = time.time() + 300
        while (not osp.exists(latest) and proc.poll() is None
               and time.time() < deadline):
            time.sleep(0.2)
        assert osp.exists(latest), 'no checkpoint after epoch 1'
        fault()
    except BaseException:
        proc.kill()
        raise
    result = proc.result(timeout=600)
    return result.returncode, result.stdout


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


def files_holding(secret: str, *roots) -> list:
    """Every file under ``roots`` whose bytes hold ``secret``."""
    found = []
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in files:
                path = osp.join(folder, name)
                with open(path, 'rb') as f:
                    if secret.encode() in f.read():
                        found.append(path)
    return found


def cut_short(path) -> None:
    """``path`` cut to 60 % of its bytes, as an interrupted copy leaves it
    (its header still reads)."""
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) * 6 // 10])
