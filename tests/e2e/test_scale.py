"""Distributed training on CPU (gloo, two processes through
tools/dist_train.sh), non-finite loss, LR scaling and the benchmarks."""
import json
import os
import os.path as osp
import socket
import subprocess

import pytest
import torch

from helpers.runs import (FAST_OPTIONS, ROOT, SMALL_CONFIG, ckpt, run_tool,
                          scalars, start_forked_tool, tool_env, train,
                          train_args)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def deterministic_config(tmp_path_factory):
    """The demo config without random augmentation or dropout, so one
    process with batch 2 and two processes with batch 1 must agree.

    DETR normalises its classification loss per process unless
    ``sync_cls_avg_factor`` is on; with it on, the two set-ups compute the
    same gradient, so any difference left is the distributed machinery's.
    Attention takes mmcv's explicit path: PyTorch's CPU kernel for
    scaled-dot-product attention accumulates in blocks laid out by the
    padded sequence length, which differs between batch 2 and batch 1
    (4.5e-5 apart after 3 steps, against 3e-6 here).
    """
    path = tmp_path_factory.mktemp('cfg') / 'deterministic.py'
    path.write_text(f'''_base_ = {SMALL_CONFIG!r}
model = dict(
    attention='stock',
    bbox_head=dict(sync_cls_avg_factor=True),
    encoder=dict(layer_cfg=dict(self_attn_cfg=dict(dropout=0.0),
                                ffn_cfg=dict(ffn_drop=0.0))),
    decoder=dict(layer_cfg=dict(self_attn_cfg=dict(dropout=0.0),
                                cross_attn_cfg=dict(dropout=0.0),
                                ffn_cfg=dict(ffn_drop=0.0))))
train_dataloader = dict(
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Resize', scale=(320, 192), keep_ratio=True),
        dict(type='PackDetInputs'),
    ]))
''')
    return str(path)


@pytest.mark.slow
def test_two_gloo_processes_equal_one_process(deterministic_config, demo_data,
                                              tmp_path):
    store = f'sqlite:///{tmp_path}/store/mlflow.db'
    env = tool_env({
        'OMP_NUM_THREADS': '1',
        'PORT': str(_free_port()),
        'MLFLOW_TRACKING_URI': store
    })
    options = [*FAST_OPTIONS, 'train_cfg.max_epochs=1']
    single = str(tmp_path / 'single')
    # a process of its own on one thread (a forked one has one), which sums
    # as each torchrun process does
    args = train_args(
        single,
        config=deterministic_config,
        data=demo_data,
        options=['train_dataloader.batch_size=2', 'train_cfg.max_epochs=1'])
    start_forked_tool('train.py', *args).result(timeout=900, check=True)
    multi = str(tmp_path / 'multi')
    proc = subprocess.run([
        'bash',
        osp.join(ROOT, 'tools', 'dist_train.sh'), deterministic_config, '2',
        '--work-dir', multi, '--train-dir', demo_data['train'], '--val-dir',
        demo_data['val'], '--cfg-options', *options,
        'train_dataloader.batch_size=1'
    ],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          env=env,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert 'effective batch 2 = 2 process(es) x batch 1' in log
    assert 'distributed backend is gloo' in log
    assert 'MLflow tracking failed' not in log

    # one MLflow run, tracked by rank 0 only, that knows it had 2 processes
    from mlflow import MlflowClient
    client = MlflowClient(tracking_uri=store)
    runs = client.search_runs(
        [client.get_experiment_by_name('detr_training').experiment_id])
    assert len(runs) == 1
    assert runs[0].info.status == 'FINISHED'
    assert runs[0].data.params['world_size'] == '2'
    assert len(client.get_metric_history(runs[0].info.run_id,
                                         'train_loss')) == 3

    # one set of checkpoints, written by rank 0
    assert sorted(os.listdir(osp.join(multi, 'checkpoints'))) == sorted(
        os.listdir(osp.join(single, 'checkpoints')))
    a = torch.load(ckpt(single, 'latest_checkpoint.pth'), weights_only=True)
    b = torch.load(ckpt(multi, 'latest_checkpoint.pth'), weights_only=True)
    assert a['meta']['iter'] == b['meta']['iter'] == 3
    diffs = torch.cat([
        (a['state_dict'][k] - b['state_dict'][k]).abs().flatten()
        for k in a['state_dict'] if a['state_dict'][k].is_floating_point()
    ])
    # Adam moves a weight by up to lr (1e-4) a step whatever its gradient's
    # size: where a gradient is ~0, float noise sets the step's sign, so a
    # few weights may differ by up to a step; broken gradient averaging or
    # sampling would move a large share of them. Measured: 3e-6 at most on
    # one machine; 5.3e-5 at most on another, 8 of 5.7M weights beyond 1e-5.
    assert diffs.max() < 1e-4, diffs.max()
    assert (diffs > 1e-5).float().mean() < 1e-5, (diffs > 1e-5).sum()
    # validation gathered from both ranks scores the same 4 images
    va = [r for r in scalars(single) if 'coco/bbox_mAP' in r][-1]
    vb = [r for r in scalars(multi) if 'coco/bbox_mAP' in r][-1]
    for key in ('coco/bbox_mAP', 'coco/player_mAP_50'):
        assert va[key] == pytest.approx(vb[key], abs=1e-3)


def test_auto_scale_lr_uses_the_effective_batch(demo_data, tmp_path):
    proc = train(
        str(tmp_path / 'w'),
        '--auto-scale-lr',
        data=demo_data,
        options=[
            'train_cfg.max_epochs=1', 'optim_wrapper.accumulative_counts=2'
        ])
    log = proc.stdout + proc.stderr
    # 1 process x batch 2 x accumulation 2 = 4, base 8: lr halves
    assert ('effective batch 4 = 1 process(es) x batch 2 x accumulation 2; '
            'learning rate scaled 0.0001 -> 5e-05 (base batch 8)') in log
    peak = max(r['base_lr'] for r in scalars(str(tmp_path / 'w'))
               if 'base_lr' in r)
    assert peak <= 5e-5 * 1.0001


def test_benchmark_prints_the_comparison(demo_data, tmp_path):
    out = tmp_path / 'bench.json'
    proc = run_tool('analysis_tools/bench_train_step.py', SMALL_CONFIG,
                    '--train-dir', demo_data['train'], '--input-size',
                    '320x192', '--iters', '2', '--warmup', '1', '--workers',
                    '0', '--compare-stock', '--data-only', '--against',
                    'model.attention=sdpa', '--json', out)
    assert 'step time field_detr / stock:' in proc.stdout
    assert 'step time as configured / with the overrides' in proc.stdout
    assert 'input pipeline alone:' in proc.stdout
    res = json.loads(out.read_text())
    for name in ('field_detr', 'against', 'stock_mmdet'):
        assert res[name]['iterations'] == 2
        assert res[name]['images_per_s'] > 0
        assert 0 <= res[name]['data_share'] < 1
    assert res['ratio_step'] == pytest.approx(res['field_detr']['step_s'] /
                                              res['stock_mmdet']['step_s'])
    assert res['ratio_against'] == pytest.approx(res['field_detr']['step_s'] /
                                                 res['against']['step_s'])
