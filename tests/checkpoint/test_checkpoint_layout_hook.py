"""CheckpointLayoutHook with a runner stand-in that writes real files: the
layout, retention through the base class's keep_ckpt_ids across a resume,
and the base arguments it refuses."""
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger

from field_detr.checkpoint import CheckpointLayoutHook
from field_detr.errors import ConfigError


class Runner:
    """What the hook uses of MMEngine's Runner; save_checkpoint writes the
    message hub into the file as the real one does."""

    def __init__(self, work_dir, hub_name, max_epochs):
        self.work_dir = work_dir
        self.message_hub = MessageHub.get_instance(hub_name)
        self.logger = MMLogger.get_instance('test_checkpoint_layout_hook')
        self.model = torch.nn.Linear(2, 2)
        self.cfg = Config(dict())
        self.hooks = []
        self.param_schedulers = []
        self.epoch = self.iter = 0
        self.max_epochs = max_epochs

    def save_checkpoint(self,
                        out_dir,
                        filename,
                        save_optimizer=True,
                        meta=None,
                        **kwargs):
        torch.save(
            dict(
                meta=dict(meta or {}, epoch=self.epoch),
                state_dict=self.model.state_dict(),
                message_hub=self.message_hub.state_dict(),
                **({
                    'optimizer': {}
                } if save_optimizer else {})), osp.join(out_dir, filename))


def _train(hook, runner, epochs):
    hook.before_train(runner)
    for _ in range(epochs):
        hook.after_train_epoch(runner)
        runner.epoch += 1


def _files(work_dir):
    return sorted(os.listdir(osp.join(work_dir, 'checkpoints')))


def test_layout_and_retention_across_a_resume(tmp_path):
    work_dir = str(tmp_path)
    runner = Runner(work_dir, 'layout_a', max_epochs=7)
    _train(
        CheckpointLayoutHook(full_interval=2, keep_lightweight=2), runner, 5)
    assert _files(work_dir) == [
        'checkpoint_epoch_2.pth', 'checkpoint_epoch_4.pth',
        'checkpoint_epoch_4_lightweight.pth',
        'checkpoint_epoch_5_lightweight.pth', 'latest_checkpoint.pth'
    ]
    latest = torch.load(
        osp.join(work_dir, 'checkpoints', 'latest_checkpoint.pth'),
        weights_only=True)
    assert latest['message_hub']['runtime_info']['keep_ckpt_ids'] == [4, 5]

    # a new process resumes: the hub comes from the checkpoint
    resumed = Runner(work_dir, 'layout_b', max_epochs=7)
    resumed.message_hub.load_state_dict(latest['message_hub'])
    resumed.epoch = 5
    hook = CheckpointLayoutHook(full_interval=2, keep_lightweight=2)
    _train(hook, resumed, 2)
    assert list(hook.keep_ckpt_ids) == [6, 7]
    assert _files(work_dir) == [
        'checkpoint_epoch_2.pth', 'checkpoint_epoch_4.pth',
        'checkpoint_epoch_6.pth', 'checkpoint_epoch_6_lightweight.pth',
        'checkpoint_epoch_7.pth', 'checkpoint_epoch_7_lightweight.pth',
        'latest_checkpoint.pth'
    ]


def test_keep_all_lightweight(tmp_path):
    runner = Runner(str(tmp_path), 'layout_c', max_epochs=3)
    _train(CheckpointLayoutHook(keep_lightweight=-1), runner, 3)
    assert sum(n.endswith('_lightweight.pth')
               for n in _files(str(tmp_path))) == 3


def test_keep_no_lightweight(tmp_path):
    runner = Runner(str(tmp_path), 'layout_d', max_epochs=3)
    _train(CheckpointLayoutHook(keep_lightweight=0), runner, 3)
    assert _files(
        str(tmp_path)) == ['checkpoint_epoch_3.pth', 'latest_checkpoint.pth']


@pytest.mark.parametrize('key, value', [('interval', 1), ('interval', 2),
                                        ('by_epoch', False),
                                        ('save_last', True),
                                        ('save_optimizer', False),
                                        ('save_begin', 3),
                                        ('filename_tmpl', 'epoch_{}.pth'),
                                        ('out_dir', '/elsewhere'),
                                        ('max_keep_ckpts', 3)])
def test_refuses_the_arguments_the_layout_fixes(key, value):
    """Whatever the value: one line naming the argument."""
    with pytest.raises(
            ConfigError,
            match=f'CheckpointLayoutHook: {key} is '
            'not an argument'):
        CheckpointLayoutHook(**{key: value})


def test_published_keys_publish_the_last_and_best_checkpoints(tmp_path):
    """MMEngine's publishing, on the layout's last full checkpoint and
    best_model.pth: ``<name>-<sha256[:8]>.pth`` with only those keys."""
    import re
    work_dir = str(tmp_path)
    runner = Runner(work_dir, 'layout_publish', max_epochs=2)
    hook = CheckpointLayoutHook(
        full_interval=1, published_keys=['meta', 'state_dict'])
    _train(hook, runner, 2)
    hook._save_best_checkpoint(runner, {'coco/bbox_mAP': 0.5})
    hook.after_train(runner)
    files = _files(work_dir)
    published = [f for f in files if '-' in f]
    assert sorted(p.split('-')[0]
                  for p in published) == ['best_model', 'checkpoint_epoch_2']
    for name in published:
        path = osp.join(work_dir, 'checkpoints', name)
        checkpoint = torch.load(path, weights_only=True)
        assert sorted(checkpoint) == ['meta', 'state_dict']
        assert re.fullmatch(r'[a-z_0-9]+-[0-9a-f]{8}\.pth', name), name
        source = torch.load(
            osp.join(work_dir, 'checkpoints',
                     name.split('-')[0] + '.pth'),
            weights_only=True)
        for key, value in source['state_dict'].items():
            assert torch.equal(checkpoint['state_dict'][key], value), key
    # without published_keys nothing more is written
    runner = Runner(str(tmp_path / 'b'), 'layout_publish_b', max_epochs=2)
    hook = CheckpointLayoutHook(full_interval=1)
    _train(hook, runner, 2)
    hook.after_train(runner)
    assert not [f for f in _files(str(tmp_path / 'b')) if '-' in f]
