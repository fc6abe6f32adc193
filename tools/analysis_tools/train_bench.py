"""Where training time goes: step time, data time, images/s, peak memory,
host-device synchronisations and dispatched ops (``bench_train_step.py``).

A benchmark builds a Runner from a config (the real dataset, pipeline,
model, optimiser wrapper and AMP/compile settings), then times
``model.train_step`` on batches from the real data loader. The input size
is fixed (every image resized to fit WxH) so configs compare at equal work.
"""
import copy
import gc
import os.path as osp
import tempfile
import time
from typing import Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from op_counts import count_cuda_syncs, count_ops, profile_table

from field_detr import runtime
from field_detr.hooks.memory_hook import process_rss_mb
from field_detr.optim import AMP_WRAPPERS

STOCK_CONFIG = 'mmdet::detr/detr_r50_8xb2-150e_coco.py'
STOCK_DINO_CONFIG = 'mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py'
# MMDetection's own config of each model family the project serves
STOCK_CONFIGS = {
    'DETR': STOCK_CONFIG,
    'FieldDETR': STOCK_CONFIG,
    'DINO': STOCK_DINO_CONFIG,
    'FieldDINO': STOCK_DINO_CONFIG,
}


def fixed_size_pipeline(pipeline, size: Tuple[int, int]) -> list:
    """``pipeline`` with its (random) resize replaced by one fixed resize."""
    out = []
    for t in pipeline:
        kind = t['type'].split('.')[-1]
        if kind in ('RandomChoiceResize', 'Resize', 'RandomResize',
                    'RandomChoice', 'RandomCrop'):
            if not any(o['type'] == 'Resize' for o in out):
                out.append(dict(type='Resize', scale=size, keep_ratio=True))
            continue
        out.append(t)
    return out


def stock_config(train_dir: str,
                 classes=('player', 'ball'),
                 base: str = STOCK_CONFIG) -> Config:
    """MMDetection's unmodified DETR R-50 config (or ``base``, e.g. its
    DINO-4scale R-50) on a split folder (its own CocoDataset reading the
    same annotation file)."""
    with tempfile.NamedTemporaryFile('w', suffix='.py', delete=False) as f:
        f.write(f'_base_ = {base!r}\n')  # resolves mmdet:: paths
    cfg = Config.fromfile(f.name)
    ds = cfg.train_dataloader.dataset
    ds.data_root = train_dir
    ds.ann_file = 'annotations/annotations.json'
    ds.data_prefix = dict(img='images/')
    ds.metainfo = dict(classes=tuple(classes))
    ds.filter_cfg = dict(filter_empty_gt=False, min_size=0)
    cfg.model.backbone.init_cfg = None
    return cfg


def prepare(cfg: Config,
            train_dir: Optional[str],
            size: Optional[Tuple[int, int]],
            batch_size: Optional[int],
            workers: Optional[int],
            work_dir: str,
            amp: Optional[bool] = None) -> Config:
    """A copy of ``cfg`` set up for benchmarking: fixed input size (unless
    ``size`` is None), no validation, tracking, checkpoints or pretrained
    downloads."""
    cfg = copy.deepcopy(cfg)
    if train_dir is not None:
        cfg.train_dataloader.dataset.data_root = train_dir
    ds = cfg.train_dataloader.dataset
    if size is not None:  # else the config's own (multi-scale) pipeline
        ds.pipeline = fixed_size_pipeline(ds.pipeline, size)
    if batch_size:
        cfg.train_dataloader.batch_size = batch_size
    if workers is not None:
        cfg.train_dataloader.num_workers = workers
    if amp is not None:
        if amp:
            runtime.enable_amp(cfg)
        else:
            runtime.disable_amp(cfg)
    cfg.model.backbone.init_cfg = None
    cfg.work_dir = work_dir
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.custom_hooks = []
    cfg.default_hooks = dict(timer=dict(type='IterTimerHook'))
    cfg.visualizer = dict(type='Visualizer', vis_backends=[])
    cfg.load_from = None
    cfg.resume = False
    runtime.normalise_dataloaders(cfg)
    runtime.apply_device_fallbacks(cfg)
    return cfg


class TrainBench:
    """One config's model, optimiser wrapper and data loader, ready to
    time ``train_step``."""

    def __init__(self, cfg: Config, name: str) -> None:
        cfg.experiment_name = f'bench_{name}_{time.time_ns()}'
        self.name = name
        self.runner = Runner.from_cfg(cfg)
        r = self.runner
        r._train_loop = r.build_train_loop(r._train_loop)
        r.optim_wrapper = r.build_optim_wrapper(r.optim_wrapper)
        r.optim_wrapper.initialize_count_status(r.model, 0, 10**9)
        r._maybe_compile('train_step')
        self.loader = r.train_loop.dataloader
        self.batch_size = cfg.train_dataloader.batch_size
        self._iter = None
        self.steps, self.waits = [], []
        self.warmup_s = 0.0

    def _next(self):
        if self._iter is None:
            self._iter = iter(self.loader)
        try:
            return next(self._iter)
        except StopIteration:
            self._iter = iter(self.loader)
            return next(self._iter)

    def run(self, iters: int, record: bool = True) -> None:
        model = self.runner.model
        model.train()
        for _ in range(iters):
            t0 = time.perf_counter()
            batch = self._next()
            t1 = time.perf_counter()
            model.train_step(batch, optim_wrapper=self.runner.optim_wrapper)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            t2 = time.perf_counter()
            if record:
                self.waits.append(t1 - t0)
                self.steps.append(t2 - t0)
            else:  # the first steps carry cuDNN tuning and compilation
                self.warmup_s += t2 - t0
                print(f'{self.name} warm-up step: {t2 - t0:.2f} s', flush=True)

    def summary(self) -> dict:
        step = float(np.median(self.steps))
        data = float(np.median(self.waits))
        graphs = getattr(self.runner.model, '_graphs', None)
        extra = {} if graphs is None else {
            f'cuda_graph_{k}': v
            for k, v in graphs.stats().items()
        }
        return dict(
            **extra,
            step_s=step,
            data_s=data,
            data_share=data / step,
            images_per_s=self.batch_size / step,
            iterations=len(self.steps),
            warmup_s=self.warmup_s)

    def step(self) -> None:
        """One training step on the next batch."""
        self.runner.model.train_step(
            self._next(), optim_wrapper=self.runner.optim_wrapper)

    def counts(self) -> dict:
        """``count_ops`` on the next batch; on CUDA also the driver's
        synchronisations per whole training step."""
        out = count_ops(self.runner.model, self._next(),
                        self.runner.optim_wrapper)
        if torch.cuda.is_available():
            sites = {}
            out['cuda_syncs_per_step'] = count_cuda_syncs(
                self.step, sites=sites)
            out['cuda_sync_sites'] = dict(
                sorted(sites.items(), key=lambda kv: -kv[1]))
        return out

    def ceiling(self, iters: int, warmup: int = 2) -> dict:
        """The same batch through the backbone alone, forward + backward,
        under the same precision: the practical limit of a DETR step."""
        model = self.runner.model
        model.train()
        data = model.data_preprocessor(self._next(), True)
        inputs = data['inputs']
        if getattr(model, 'channels_last', False):
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        times = []
        for i in range(warmup + iters):
            t0 = time.perf_counter()
            with self.runner.optim_wrapper.optim_context(model):
                feats = model.backbone(inputs)
                loss = sum(f.float().mean() for f in feats)
            loss.backward()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            if i >= warmup:
                times.append(time.perf_counter() - t0)
        model.zero_grad(set_to_none=True)
        step = float(np.median(times))
        return dict(step_s=step, images_per_s=self.batch_size / step)


def peak_cuda_mb() -> float:
    if not torch.cuda.is_available():
        return float('nan')
    return torch.cuda.max_memory_allocated() / 2**20


def stock_like(cfg: Config, ours: Config, size, work_dir: str) -> Config:
    """MMDetection's own config of ``cfg``'s model family, prepared as
    ``ours`` is: the same data, size, batch, workers and precision."""
    data_root = ours.train_dataloader.dataset.data_root
    stock = prepare(
        stock_config(
            data_root, base=STOCK_CONFIGS.get(cfg.model.type,
                                              STOCK_CONFIG)), None, size,
        ours.train_dataloader.batch_size, ours.train_dataloader.num_workers,
        osp.join(work_dir, 'stock'))
    if ours.optim_wrapper.get('type') in AMP_WRAPPERS:
        # MMEngine's own AMP wrapper, at the config's precision
        stock.optim_wrapper.type = 'AmpOptimWrapper'
        stock.optim_wrapper.loss_scale = 'dynamic'
        stock.optim_wrapper.dtype = ours.optim_wrapper.get('dtype')
    stock.env_cfg = copy.deepcopy(ours.env_cfg)
    return stock


def benchmark(cfg: Config,
              train_dir: Optional[str] = None,
              size: Optional[Tuple[int, int]] = (1333, 800),
              iters: int = 20,
              warmup: int = 5,
              batch_size: Optional[int] = None,
              workers: Optional[int] = None,
              compare_stock: bool = False,
              rounds: int = 2,
              amp: Optional[bool] = None,
              profile: bool = False,
              ceiling: bool = False,
              ball_head_cost: bool = False,
              against: Optional[dict] = None) -> dict:
    """Time the config (and, with ``compare_stock``, MMDetection's stock DETR
    at the same size, batch, workers and precision), in ``rounds``
    alternating rounds of ``iters // rounds`` iterations each so that
    machine noise hits both alike. With ``profile``, count ops and syncs
    (``count_ops``, ``count_cuda_syncs``) and keep a profiler table of the
    config's step; with ``ceiling``, time the backbone alone on the same
    batch; with ``ball_head_cost``, also the same model without its ball
    head (``model.ball_head=None``); with ``against`` (config overrides,
    as ``--cfg-options`` takes them), also the config with them. Returns
    the figures."""
    work_dir = tempfile.mkdtemp(prefix='field_detr_bench_')
    ours = prepare(cfg, train_dir, size, batch_size, workers,
                   osp.join(work_dir, 'field'), amp)
    benches = [TrainBench(ours, 'field_detr')]

    def variant(name: str, changes: dict) -> TrainBench:
        """The config with ``changes`` (``--cfg-options`` keys), timed as
        ``name`` beside it."""
        other = copy.deepcopy(cfg)
        other.merge_from_dict(changes)
        return TrainBench(
            prepare(other, train_dir, size, batch_size, workers,
                    osp.join(work_dir, name), amp), name)

    if ball_head_cost and cfg.model.get('ball_head'):
        benches.append(variant('no_ball_head', {'model.ball_head': None}))
    if against:
        benches.append(variant('against', against))
    if compare_stock:
        benches.append(
            TrainBench(stock_like(cfg, ours, size, work_dir), 'stock_mmdet'))
    results = {}
    for bench in benches:
        bench.run(warmup, record=False)
    per_round = max(1, iters // rounds)
    for _ in range(rounds):
        for bench in benches:
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            bench.run(per_round)
            results.setdefault(bench.name, dict(peak_cuda_mb=0.0))
            results[bench.name]['peak_cuda_mb'] = max(
                results[bench.name]['peak_cuda_mb'], peak_cuda_mb())
    for bench in benches:
        results[bench.name].update(bench.summary())
        results[bench.name]['peak_ram_mb'] = process_rss_mb()
        results[bench.name]['batch_size'] = bench.batch_size
    if profile:
        for bench in benches:
            results[bench.name].update(bench.counts())
        results['profile_table'] = profile_table(benches[0].step)
    if ceiling:
        results['backbone_ceiling'] = benches[0].ceiling(max(3, iters // 2))
        results['ratio_ceiling'] = (
            results['backbone_ceiling']['step_s'] /
            results['field_detr']['step_s'])
    if 'no_ball_head' in results:
        results['ratio_ball_head'] = (
            results['field_detr']['step_s'] /
            results['no_ball_head']['step_s'])
    if 'against' in results:
        results['ratio_against'] = (
            results['field_detr']['step_s'] / results['against']['step_s'])
    if compare_stock:
        results['ratio_step'] = (
            results['field_detr']['step_s'] / results['stock_mmdet']['step_s'])
    del benches
    gc.collect()
    return results


def benchmark_data(cfg: Config,
                   train_dir: Optional[str] = None,
                   size: Tuple[int, int] = (1333, 800),
                   iters: int = 50,
                   batch_size: Optional[int] = None,
                   workers: Optional[int] = None) -> dict:
    """Images/s of the input pipeline alone (data loader, no model)."""
    cfg = prepare(cfg, train_dir, size, batch_size, workers,
                  tempfile.mkdtemp(prefix='field_detr_bench_'))
    cfg.experiment_name = f'bench_data_{time.time_ns()}'
    runner = Runner.from_cfg(cfg)
    loader = runner.build_dataloader(cfg.train_dataloader)
    it = iter(loader)
    next(it)  # workers started
    n, start = 0, time.perf_counter()
    while n < iters:
        try:
            next(it)
        except StopIteration:
            it = iter(loader)
            continue
        n += 1
    seconds = time.perf_counter() - start
    images = n * cfg.train_dataloader.batch_size
    return dict(
        images_per_s=images / seconds,
        batches=n,
        workers=cfg.train_dataloader.num_workers)
