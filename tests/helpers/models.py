"""Models built from the configs and small hand-made batches, for the
tests that compare models directly (no Runner)."""
import copy
import logging

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


def built(cfg):
    """The model of ``cfg`` initialised: a DINO (a Deformable DETR) only
    built holds uninitialised memory in its level embedding, NaN on some
    draws."""
    from mmdet.registry import MODELS
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def data_sample(img_shape, batch_shape, bboxes, labels) -> DetDataSample:
    """A training sample of an image of ``img_shape`` (h, w) padded to
    ``batch_shape``, with its ground-truth boxes (xyxy) and labels."""
    sample = DetDataSample(
        metainfo=dict(
            img_shape=tuple(img_shape),
            batch_input_shape=tuple(batch_shape),
            pad_shape=tuple(batch_shape),
            scale_factor=(1, 1),
            ori_shape=tuple(img_shape)))
    sample.gt_instances = InstanceData(
        bboxes=torch.as_tensor(bboxes, dtype=torch.float32).reshape(-1, 4),
        labels=torch.as_tensor(labels, dtype=torch.long))
    return sample


def batch(seed, n=2, size=(96, 128)):
    g = torch.Generator().manual_seed(seed)
    h, w = size
    inputs = torch.randn(n, 3, h, w, generator=g)
    samples = []
    for i in range(n):
        xy = torch.rand(3, 2, generator=g) * 40
        samples.append(
            data_sample(
                (h - 8 * i, w), (h, w),
                torch.cat([xy, xy + 10 + torch.rand(3, 2, generator=g) * 30],
                          1), [0, 1, 0]))
    return inputs, samples


class Lines(logging.Handler):
    """The messages of a logger it is added to (``MMLogger`` instances do
    not propagate to pytest's ``caplog``)."""

    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def assert_same_step(ours, stock, loss_tol=1e-5, grad_rtol=1e-4):
    """``(losses, gradients by name)`` of two models on one batch: the same
    loss terms and gradients, to float rounding (an attention computed
    another way)."""
    (lf, gf), (ls, gs) = ours, stock
    assert list(lf) == list(ls)
    for name in ls:
        torch.testing.assert_close(
            lf[name], ls[name], rtol=loss_tol, atol=loss_tol)
    assert gf.keys() == gs.keys()
    for name in gs:
        torch.testing.assert_close(
            gf[name], gs[name], rtol=grad_rtol, atol=1e-5, msg=name)


def assert_detects_as_checkpoint(model, checkpoint, image) -> None:
    """``model`` (loaded some other way: MLflow, ...) in the place of
    ``LocalDetector(checkpoint)``'s gives that detector's detections on
    ``image``, every box from a score of 0: boxes to 1e-5, scores to
    1e-6."""
    import numpy as np

    from field_detr import LocalDetector
    detector = LocalDetector(checkpoint, 0.0, 'cpu')
    expected = detector.detect(image)
    detector.model = model.eval()
    got = detector.detect(image)
    assert len(expected) > 0
    np.testing.assert_allclose(got.boxes, expected.boxes, atol=1e-5)
    np.testing.assert_allclose(got.scores, expected.scores, atol=1e-6)


def no_dropout(cfg):
    """A DETR model config without dropout (for exact comparisons)."""
    for coder in ('encoder', 'decoder'):
        layer = cfg[coder].layer_cfg
        for attn in ('self_attn_cfg', 'cross_attn_cfg'):
            if attn in layer:
                layer[attn].dropout = 0.0
        layer.ffn_cfg.ffn_drop = 0.0
    return cfg
