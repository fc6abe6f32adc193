"""A preemption signal (SIGTERM, SIGUSR1) stops training with a checkpoint
at the end of the optimiser step; --resume continues at the next batch and
ends where an uninterrupted run ends: the same weights, every iteration
once, in the same order, one MLflow run with each step once.

The preempted runs are processes (forks of the test process) that signal
themselves at a moment (``SignalAtHook``); the resumes run in the test
process; Slurm's and torchrun's restarts run the real scripts."""
import json
import os
import os.path as osp
import signal
import socket
import stat
import subprocess
import time

import pytest
import torch

from field_detr.errors import EXIT_PREEMPTED
from helpers.runs import (FAULTS_ENV, ROOT, SMALL_CONFIG, ckpt, fault_config,
                          one_thread, run_tool, start_forked_tool, tool_env,
                          train_args)

# a learning rate at which an epoch moves weights far beyond rounding
OPTIONS = ['train_cfg.max_epochs=2', 'optim_wrapper.optimizer.lr=1e-3']


def _config(tmp_path, records, moment='iteration', **signal_args):
    """The small demo config recording its batches into ``records``, with
    a ``SignalAtHook`` at ``moment`` (sent once: its marker beside the
    records)."""
    args = ''.join(f', {k}={v!r}' for k, v in signal_args.items())
    return fault_config(
        tmp_path / 'preempt.py', SMALL_CONFIG,
        "[dict(type='RNGStateHook'), dict(type='FiniteLossHook'), "
        "dict(type='MLflowRunHook'), "
        f"dict(type='RecordBatchesHook', path={str(records)!r}), "
        f"dict(type='SignalAtHook', moment={moment!r}, "
        f"marker={str(records) + '.sent'!r}{args})]")


def _env(tmp_path):
    return {**FAULTS_ENV, 'MLFLOW_TRACKING_URI': f'sqlite:///{tmp_path}/m.db'}


def _records(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def _mlflow_steps(tmp_path, metric):
    import mlflow
    client = mlflow.MlflowClient(tracking_uri=f'sqlite:///{tmp_path}/m.db')
    (run, ) = client.search_runs(
        [client.get_experiment_by_name('detr_training').experiment_id])
    history = client.get_metric_history(run.info.run_id, metric)
    return run.info.status, sorted(m.step for m in history)


@pytest.fixture(scope='module', autouse=True)
def runs_on_one_thread():
    """The runs in the test process on one thread, as the forked ones:
    another thread count sums in another order."""
    with one_thread():
        yield


@pytest.fixture(scope='module')
def uninterrupted(demo_data, tmp_path_factory):
    """The 2-epoch run no signal reaches (its marker exists already)."""
    tmp_path = tmp_path_factory.mktemp('uninterrupted')
    records = tmp_path / 'batches.jsonl'
    open(f'{records}.sent', 'w').close()
    work_dir = str(tmp_path / 'run')
    run_tool(
        'train.py',
        *train_args(
            work_dir,
            config=_config(tmp_path, records),
            data=demo_data,
            options=OPTIONS),
        env=_env(tmp_path))
    return dict(
        records=_records(records),
        weights=torch.load(
            ckpt(work_dir, 'checkpoint_epoch_2.pth'),
            weights_only=True)['state_dict'],
        best=torch.load(ckpt(work_dir, 'best_model.pth'),
                        weights_only=True)['meta']['best_score'],
        loss_steps=_mlflow_steps(tmp_path, 'train_loss')[1],
        val_steps=_mlflow_steps(tmp_path, 'val_map')[1])


# (moment, SignalAtHook's arguments, options, what the log says)
MOMENTS = {
    'mid_epoch': ('iteration', dict(epoch=2, batch=2), [],
                  'stopped at iteration 5 (batch 2 of 3 of epoch 2)'),
    'validation': ('validation', dict(epoch=1, signame='SIGUSR1'), [],
                   'stopped in the validation of epoch 1'),
    # a signal while the epoch's latest_checkpoint.pth is written, another
    # while the preemption marks it
    'checkpoint_write':
    ('write:latest_checkpoint.pth', dict(epoch=1, again=True), [],
     'ago (1 more ignored), training stopped '
     'after epoch 1, before its validation'),
    # with data loader workers: the batches, not the augmentations, match
    'mid_epoch_workers': ('iteration', dict(epoch=1, batch=2), [
        'train_dataloader.num_workers=2',
        'train_dataloader.persistent_workers=True'
    ], 'stopped at iteration 2 (batch 2 of 3 of epoch 1)'),
}


@pytest.mark.slow
@pytest.mark.parametrize('case', list(MOMENTS))
def test_preempted_then_resumed_equals_uninterrupted(case, uninterrupted,
                                                     demo_data, tmp_path):
    moment, signal_args, options, said = MOMENTS[case]
    records = tmp_path / 'batches.jsonl'
    work_dir = str(tmp_path / 'run')
    args = train_args(
        work_dir,
        config=_config(tmp_path, records, moment, **signal_args),
        data=demo_data,
        options=OPTIONS + options)
    started = time.perf_counter()
    stopped = start_forked_tool(
        'train.py', *args, env=_env(tmp_path)).result(timeout=900)
    log = stopped.stdout + stopped.stderr
    assert stopped.returncode == EXIT_PREEMPTED, log[-3000:]
    (line, ) = [x for x in log.splitlines() if 'preempted: SIG' in x]
    assert said in line and 'Traceback' not in log, line
    print(f'{case}: {line.split(" - INFO - ")[-1]} '
          f'(the whole preempted run {time.perf_counter() - started:.1f} s)')
    names = os.listdir(ckpt(work_dir, ''))
    assert not [n for n in names if n.endswith('.tmp')], names
    for name in names:  # every file intact
        torch.load(ckpt(work_dir, name), weights_only=True)
    assert _mlflow_steps(tmp_path, 'train_loss')[0] == 'KILLED'

    resumed = run_tool('train.py', *args, '--resume', env=_env(tmp_path))
    if moment == 'validation' or case == 'checkpoint_write':
        assert 'validating epoch 1, which the preemption interrupted' in (
            resumed.stdout + resumed.stderr)

    # every iteration once, the same batches in the same order
    assert _records(records) == uninterrupted['records']
    status, loss_steps = _mlflow_steps(tmp_path, 'train_loss')
    assert status == 'FINISHED'
    assert loss_steps == uninterrupted['loss_steps'] == list(range(1, 7))
    assert _mlflow_steps(tmp_path, 'val_map')[1] == uninterrupted['val_steps']
    if options:  # workers draw their own augmentations
        return
    weights = torch.load(
        ckpt(work_dir, 'checkpoint_epoch_2.pth'),
        weights_only=True)['state_dict']
    worst = max((weights[k].float() - v.float()).abs().max().item()
                for k, v in uninterrupted['weights'].items())
    assert worst == 0.0, f'weights differ by {worst}'
    assert torch.load(
        ckpt(work_dir, 'best_model.pth'),
        weights_only=True)['meta']['best_score'] == uninterrupted['best']


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_torchrun_restarts_two_gloo_processes_preempted_on_one_rank(
        demo_data, tmp_path):
    """Two processes (gloo) under tools/dist_train.sh with MAX_RESTARTS=1:
    rank 1 alone gets SIGTERM in epoch 2; both stop at the same step, rank
    0 writes, torchrun starts them again and they resume by themselves,
    training every iteration once."""
    records = tmp_path / 'batches.jsonl'
    config = _config(tmp_path, records, 'iteration', epoch=2, batch=1)
    text = config.read_text().replace("dict(type='SignalAtHook'",
                                      "dict(type='SignalAtHook', rank=1")
    config.write_text(text)
    work_dir = str(tmp_path / 'run')
    env = tool_env({
        **_env(tmp_path), 'OMP_NUM_THREADS': '1',
        'PORT': str(_free_port()),
        'MAX_RESTARTS': '1'
    })
    proc = subprocess.run([
        'bash',
        osp.join(ROOT, 'tools', 'dist_train.sh'),
        str(config), '2', '--work-dir', work_dir, '--train-dir',
        demo_data['train'], '--val-dir', demo_data['val'], '--cfg-options',
        'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
        'train_dataloader.batch_size=1', 'default_hooks.logger.interval=1',
        *OPTIONS
    ],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          env=env,
                          timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    stops = [x for x in log.splitlines() if 'preempted: ' in x]
    # rank 0 logs it: the signal reached the other rank
    assert len(stops) == 1 and 'a signal on another rank' in stops[0], log
    assert 'stopped at iteration 4 (batch 1 of 3 of epoch 2)' in stops[0]
    assert 'restarted by torchrun (restart 1): --resume auto' in log
    # each rank trained iterations 1..6 once each, in order
    for rank in (0, 1):
        done = [r['iter'] for r in _records(records) if r['rank'] == rank]
        assert done == list(range(1, 7)), (rank, done)
    final = torch.load(
        ckpt(work_dir, 'latest_checkpoint.pth'), weights_only=True)['meta']
    assert final['iter'] == 6 and final['epoch'] == 2
    assert _mlflow_steps(tmp_path,
                         'train_loss') == ('FINISHED', list(range(1, 7)))


def _fake_slurm(bin_dir, requeues):
    """``srun`` running its command as the one task of a job on this
    machine, ``scontrol`` naming this host and recording requeues."""
    bin_dir.mkdir()
    scripts = {
        'srun': ('#!/usr/bin/env bash\n'
                 'while [[ $1 == -* ]]; do shift; done\n'
                 'export SLURM_PROCID=0 SLURM_NTASKS=1 SLURM_LOCALID=0 '
                 'SLURM_NODELIST=localhost\n'
                 'exec "$@"\n'),
        'scontrol': ('#!/usr/bin/env bash\n'
                     'case $1 in\n'
                     '  show) echo localhost ;;\n'
                     f'  requeue) echo "$2" >> {requeues} ;;\n'
                     'esac\n'),
    }
    for name, text in scripts.items():
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.mark.slow
def test_slurm_job_requeues_on_the_time_limit_signal_and_resumes(
        demo_data, tmp_path):
    """tools/slurm_job.sh as Slurm runs it (srun and scontrol faked): the
    SIGUSR1 Slurm sends to the batch shell before the time limit stops
    training with a checkpoint and requeues the job; the requeued job
    resumes and finishes, and is not requeued again."""
    requeues = tmp_path / 'requeues'
    _fake_slurm(tmp_path / 'bin', requeues)
    records = tmp_path / 'batches.jsonl'
    work_dir = str(tmp_path / 'run')
    config = _config(tmp_path, records)  # no self-signal: its marker is set
    open(f'{records}.sent', 'w').close()
    env = tool_env({
        **_env(tmp_path), 'SLURM_JOB_ID': '4242',
        'PATH': f'{tmp_path / "bin"}{os.pathsep}{os.environ["PATH"]}',
        'MASTER_PORT': str(_free_port())
    })
    job = [
        'bash',
        osp.join(ROOT, 'tools', 'slurm_job.sh'), ROOT,
        str(config), work_dir, '--train-dir', demo_data['train'], '--val-dir',
        demo_data['val'], '--cfg-options', 'train_dataloader.num_workers=0',
        'val_dataloader.num_workers=0', *OPTIONS
    ]
    first = subprocess.Popen(
        job,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True)
    deadline = time.time() + 300
    while not (osp.exists(records) and _records(records)):
        assert first.poll() is None and time.time() < deadline
        time.sleep(0.1)
    first.send_signal(signal.SIGUSR1)  # Slurm: --signal=B:USR1@90
    log = first.communicate(timeout=600)[0]
    assert first.returncode == EXIT_PREEMPTED, log[-3000:]
    assert 'preempted: SIGUSR1' in log
    assert requeues.read_text().split() == ['4242']

    second = subprocess.run(
        job, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = second.stdout + second.stderr
    assert second.returncode == 0, log[-3000:]
    assert '--resume: ' in log
    assert requeues.read_text().split() == ['4242']  # not requeued again
    assert [r['iter'] for r in _records(records)] == list(range(1, 7))


def test_sbatch_asks_for_the_signal_and_requeue(tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    sbatch = bin_dir / 'sbatch'
    sbatch.write_text(f'#!/usr/bin/env bash\necho "$@" > {tmp_path}/args\n')
    sbatch.chmod(0o755)
    env = {**os.environ, 'PATH': f'{bin_dir}{os.pathsep}{os.environ["PATH"]}'}
    subprocess.run([
        'bash',
        osp.join(ROOT, 'tools', 'slurm_train.sh'), 'gpu', 'detr',
        'configs/detr_r50_field.py',
        str(tmp_path / 'w'), '--epochs', '3'
    ],
                   env=env,
                   check=True)
    args = (tmp_path / 'args').read_text().split()
    assert '--signal=B:USR1@90' in args and '--requeue' in args
    assert f'--output={tmp_path}/w/slurm-%j.out' in args
    assert args[-6:] == [
        osp.join(ROOT, 'tools', 'slurm_job.sh'), ROOT,
        'configs/detr_r50_field.py',
        str(tmp_path / 'w'), '--epochs', '3'
    ]
