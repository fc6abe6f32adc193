"""Models built from the configs and small hand-made batches, for the
tests that compare models directly (no Runner)."""
import copy

import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData


def model_cfg(path, **changes):
    cfg = Config.fromfile(path)
    model = copy.deepcopy(cfg.model)
    model.backbone.init_cfg = None
    model.update(changes)
    return model


def batch(seed, n=2, size=(96, 128)):
    g = torch.Generator().manual_seed(seed)
    h, w = size
    inputs = torch.randn(n, 3, h, w, generator=g)
    samples = []
    for i in range(n):
        s = DetDataSample(
            metainfo=dict(
                img_shape=(h - 8 * i, w),
                batch_input_shape=(h, w),
                pad_shape=(h, w),
                scale_factor=(1, 1),
                ori_shape=(h - 8 * i, w)))
        xy = torch.rand(3, 2, generator=g) * 40
        s.gt_instances = InstanceData(
            bboxes=torch.cat(
                [xy, xy + 10 + torch.rand(3, 2, generator=g) * 30], 1),
            labels=torch.tensor([0, 1, 0]))
        samples.append(s)
    return inputs, samples
