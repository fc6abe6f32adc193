"""MemoryHook with a mock runner, as mmdet's test_checkloss_hook.py does."""
from unittest.mock import MagicMock, patch

from mmengine.logging import MessageHub

from field_detr.hooks import MemoryHook
from field_detr.hooks.memory_hook import process_rss_mb


def _runner(iteration):
    runner = MagicMock()
    runner.iter = iteration
    runner.message_hub = MessageHub.get_instance('test_memory_hook')
    return runner


def test_logs_ram_and_collects_at_its_interval():
    hook = MemoryHook(cleanup_interval=3)
    collected = []
    with patch('gc.collect', side_effect=lambda: collected.append(1)):
        for it in range(7):
            runner = _runner(it)
            hook.after_train_iter(runner, it)
    ram = runner.message_hub.get_scalar('train/memory_ram_mb').current()
    assert 10 < ram < 10 * process_rss_mb()
    assert len(collected) == 2  # after iterations 3 and 6


def test_interval_zero_never_collects():
    with patch('gc.collect') as collect:
        for it in range(5):
            MemoryHook(cleanup_interval=0).after_train_iter(_runner(it), it)
    collect.assert_not_called()


def test_leaves_gpu_peak_to_the_log_processor():
    """The hook neither reads nor resets CUDA's peak: LogProcessor's
    ``memory`` (logged as memory_gpu_mb) is the peak over its interval."""
    hook = MemoryHook(cleanup_interval=1)
    runner = _runner(0)
    with patch('torch.cuda.reset_peak_memory_stats') as reset, \
            patch('torch.cuda.max_memory_allocated') as peak:
        hook.after_train_iter(runner, 0)
    reset.assert_not_called()
    peak.assert_not_called()
    assert 'train/memory_gpu_mb' not in runner.message_hub.log_scalars
