"""What the tools do to a config and to a work dir (field_detr.runtime),
without training: split folders, work dir, --resume, AMP and device
fallbacks, LR scaling, optional hooks, the one-line exit, the config text
formatted once."""
import os
import os.path as osp

import pytest
import torch

from field_detr import runtime
from field_detr.errors import (ConfigError, InputError, TrainingStopped,
                               exit_on_error)
from helpers.runs import DEMO_CONFIG


@pytest.fixture
def cfg():
    return runtime.load_config(DEMO_CONFIG)


def _checkpoint(path, **meta):
    os.makedirs(osp.dirname(path), exist_ok=True)
    torch.save(dict(meta=meta, state_dict={'w': torch.zeros(2)}), path)
    return path


def test_load_config_and_options(tmp_path):
    cfg = runtime.load_config(DEMO_CONFIG, {'train_cfg.max_epochs': 7})
    assert cfg.train_cfg.max_epochs == 7
    with pytest.raises(InputError, match='config file not found'):
        runtime.load_config(str(tmp_path / 'nope.py'))


def test_split_and_work_dir(cfg):
    runtime.set_split(cfg, 'train', '/data/a')
    runtime.set_split(cfg, 'val', '/data/b')
    runtime.set_split(cfg, 'test', None)
    assert cfg.train_dataloader.dataset.data_root == '/data/a'
    assert cfg.val_dataloader.dataset.data_root == '/data/b'
    assert cfg.val_evaluator.ann_file == osp.join('/data/b', 'annotations',
                                                  'annotations.json')
    cfg.work_dir = None
    runtime.set_work_dir(cfg, 'configs/x.py', None)
    assert cfg.work_dir == osp.join('work_dirs', 'x')
    runtime.set_work_dir(cfg, 'configs/x.py', '/w')
    assert cfg.work_dir == '/w'


def test_new_run_never_overwrites_checkpoints(cfg, tmp_path):
    cfg.work_dir = str(tmp_path)
    runtime.set_resume(cfg, None)  # empty work dir: fine
    _checkpoint(str(tmp_path / 'checkpoints' / 'latest_checkpoint.pth'))
    with pytest.raises(InputError, match='pass --resume'):
        runtime.set_resume(cfg, None)


@pytest.mark.parametrize('resume', ['newest', 'auto'])
def test_resume_continues_the_newest_checkpoint_and_its_mlflow_run(
        cfg, tmp_path, resume):
    """Which checkpoint --resume (alone: 'newest') and --resume auto take,
    intact files only:
    test_crash_safety.py::test_resume_order_newest_intact_checkpoint."""
    latest = _checkpoint(
        str(tmp_path / 'checkpoints' / 'latest_checkpoint.pth'),
        mlflow_run_id='abc')
    cfg.work_dir = str(tmp_path)
    runtime.set_resume(cfg, resume)
    assert cfg.resume and cfg.load_from == latest
    # the run id stored in the checkpoint continues the MLflow run
    (backend, ) = [
        b for b in cfg.visualizer.vis_backends
        if b.type == 'FieldMLflowVisBackend'
    ]
    assert backend.run_id == 'abc'


def test_resume_without_checkpoint(cfg, tmp_path):
    """--resume alone refuses a work dir without a checkpoint; --resume
    auto starts a new run there, but not over checkpoints it cannot read."""
    cfg.work_dir = str(tmp_path)
    with pytest.raises(InputError, match='found no checkpoint'):
        runtime.set_resume(cfg, 'newest')
    runtime.set_resume(cfg, 'auto')
    assert not cfg.get('resume') and not cfg.get('load_from')
    broken = tmp_path / 'checkpoints' / 'latest_checkpoint.pth'
    broken.parent.mkdir()
    broken.write_bytes(b'not a checkpoint')
    with pytest.raises(InputError, match='not intact'):
        runtime.set_resume(cfg, 'auto')


def test_a_worker_restarted_by_torchrun_resumes(monkeypatch):
    monkeypatch.delenv('TORCHELASTIC_RESTART_COUNT', raising=False)
    assert runtime.restarted_resume(None) is None
    monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', '0')
    assert runtime.restarted_resume(None) is None
    monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', '2')
    assert runtime.restarted_resume(None) == 'auto'
    assert runtime.restarted_resume('x.pth') == 'x.pth'


def test_amp_and_cpu_fallbacks(cfg):
    runtime.enable_amp(cfg)
    assert cfg.optim_wrapper.type == 'Bf16AwareAmpOptimWrapper'
    cfg.compile = True
    cfg.train_dataloader.pin_memory = True
    if torch.cuda.is_available():
        pytest.skip('the CPU fallbacks apply without CUDA')
    runtime.apply_device_fallbacks(cfg, launcher='pytorch')
    assert cfg.optim_wrapper.type == 'FieldOptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper
    assert cfg.compile is False
    assert cfg.train_dataloader.pin_memory is False
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.device_ids is None


def test_cpu_fallbacks_switch_amp_and_compile_off(cfg, monkeypatch):
    from field_detr.runtime import config_edits
    if torch.cuda.is_available():
        pytest.skip('falls back only without CUDA')
    notes = []
    monkeypatch.setattr(config_edits, '_note', notes.append)
    cfg.compile = True
    runtime.apply_device_fallbacks(cfg)
    assert cfg.compile is False
    assert cfg.optim_wrapper.type == 'FieldOptimWrapper'
    assert 'dtype' not in cfg.optim_wrapper
    assert sum('torch.compile is off' in n for n in notes) == 1
    assert sum('mixed precision (AMP) is off' in n for n in notes) == 1


def test_lr_scaling_counts_accumulation(cfg):
    cfg.train_dataloader.batch_size = 4
    cfg.optim_wrapper.accumulative_counts = 2
    cfg.auto_scale_lr = dict(enable=False, base_batch_size=8)
    lr = cfg.optim_wrapper.optimizer.lr
    runtime.apply_lr_scaling(cfg, enable=False, world_size=2)
    assert cfg.optim_wrapper.optimizer.lr == lr
    runtime.apply_lr_scaling(cfg, enable=True, world_size=2)
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(lr * 16 / 8)
    assert cfg.auto_scale_lr.enable is False  # MMEngine's rule stays off


def test_optional_hooks(cfg):
    runtime.add_optional_hooks(cfg)
    types = [h['type'] for h in cfg.custom_hooks]
    assert 'EMAHook' not in types and 'EarlyStoppingHook' not in types
    runtime.add_optional_hooks(cfg, ema=True, early_stop=4)
    ema, stop = cfg.custom_hooks[-2:]
    assert (ema['type'], ema['momentum']) == ('EMAHook', 0.0002)
    assert (stop['type'], stop['patience']) == ('EarlyStoppingHook', 4)
    runtime.add_optional_hooks(cfg, ema=True, early_stop=4)  # no twice
    assert len(cfg.custom_hooks) == len(types) + 2


def test_worker_options_dropped_without_workers(cfg):
    cfg.train_dataloader.num_workers = 0
    runtime.normalise_dataloaders(cfg)
    assert cfg.train_dataloader.persistent_workers is False
    assert 'prefetch_factor' not in cfg.train_dataloader


def test_evaluation_stays_out_of_mlflow(cfg):
    runtime.without_mlflow(cfg)
    assert 'FieldMLflowVisBackend' not in [
        b.type for b in cfg.visualizer.vis_backends
    ]


@pytest.mark.parametrize('error', [InputError, ConfigError, TrainingStopped])
def test_exit_on_error_prints_one_line(error, capsys):

    @exit_on_error
    def main():
        raise error('x.json: annotations[3] (id=4): bbox [1, 2] bad')

    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    assert capsys.readouterr().err == \
        'error: x.json: annotations[3] (id=4): bbox [1, 2] bad\n'


def test_other_errors_keep_their_traceback_without_credentials(capsys):

    @exit_on_error
    def main():
        raise KeyError('a bug near postgresql://u:secret@db/mlflow')

    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith('Traceback (most recent call last):')
    assert err.endswith(
        "KeyError: 'a bug near postgresql://u:***@db/mlflow'\n")


def test_error_from_a_data_loader_worker_is_one_line(capsys):
    """torch re-raises a worker's exception as the same type around the
    worker's traceback; the tools print the error's own line."""
    from torch._utils import ExceptionWrapper
    try:
        raise InputError('x.jpg: image unreadable during training (gone)')
    except InputError:
        wrapped = ExceptionWrapper(where='in DataLoader worker process 0')

    @exit_on_error
    def main():
        wrapped.reraise()

    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    assert capsys.readouterr().err == \
        'error: x.jpg: image unreadable during training (gone)\n'


def test_oom_advice_halves_the_batch(cfg):
    cfg.train_dataloader.batch_size = 4
    cfg.optim_wrapper.accumulative_counts = 2
    text = runtime.oom_advice(cfg, 9, RuntimeError('CUDA out of memory.'))
    assert 'iteration 10' in text
    assert 'train_dataloader.batch_size=2' in text
    assert 'optim_wrapper.accumulative_counts=4' in text


def test_config_text_is_formatted_once_and_stays_mmengines():
    """Importing field_detr makes MMEngine's Config.pretty_text remember its
    yapf formatting: the text equals the unmemoised one, a second call
    formats nothing, and a changed config is formatted anew."""
    from mmengine.config import Config
    from mmengine.config import config as config_module

    from field_detr.runtime.config_text import MemoisedFormatCode
    memo = config_module.FormatCode
    assert isinstance(memo, MemoisedFormatCode)
    calls = []

    def counted(text, **kwargs):
        calls.append(text)
        return memo.format_code(text, **kwargs)

    cfg = Config.fromfile(DEMO_CONFIG)
    config_module.FormatCode = MemoisedFormatCode(counted)
    try:
        first = cfg.pretty_text
        assert cfg.pretty_text == first and len(calls) == 1
        cfg.model.num_queries = 7
        changed = cfg.pretty_text
        assert len(calls) == 2 and 'num_queries=7' in changed
    finally:
        config_module.FormatCode = memo
    config_module.FormatCode = memo.format_code  # MMEngine's own
    try:
        assert Config.fromfile(DEMO_CONFIG).pretty_text == first
        cfg.model.num_queries = 7
        assert cfg.pretty_text == changed
    finally:
        config_module.FormatCode = memo
