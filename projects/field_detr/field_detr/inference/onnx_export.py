"""ONNX export of the DETR and DINO networks, checked with onnxruntime.

The ONNX graph takes one normalised RGB image tensor ``image`` of shape
``(1, 3, H, W)`` (a fixed size, the model's input after resizing) and returns
the last decoder layer's ``scores`` ``(1, Q, C)`` (each query's class
probabilities: DETR's softmax with the no-object column dropped, DINO's
sigmoid per class) and ``boxes`` ``(1, Q, 4)`` (``cx, cy, w, h`` relative
to the image). A model with a ball head also returns the head's
``ball_scores`` ``(1, K)`` and ``ball_boxes`` ``(1, K, 4)`` (``x1, y1, x2,
y2`` in the input image's pixels, its ``topk`` strongest heatmap peaks);
the model's ball detections are those, and the DETR's ball column of
``scores`` is then not used. Pre-processing is ``(rgb - mean) / std`` with
the ``normalization`` stored in the exported model.
"""
import os
import os.path as osp
from typing import Tuple

import numpy as np
import torch
from torch import nn


class DetrOnnxWrapper(nn.Module):
    """The tensor-only forward path of an mmdet DETR (``FieldDETR``,
    ``DETR``) or DINO for a fixed size."""

    def __init__(self, model, size: Tuple[int, int]) -> None:
        super().__init__()
        from mmdet.structures import DetDataSample
        self.model = model
        w, h = size
        self.samples = [
            DetDataSample(
                metainfo=dict(img_shape=(h, w), batch_input_shape=(h, w)))
        ]

    def forward(self, image: torch.Tensor):
        if hasattr(self.model, 'extract_feats'):  # FieldDETR: + ball head
            feats, ball_feats = self.model.extract_feats(image)
        else:
            feats, ball_feats = self.model.extract_feat(image), None
        head_inputs = self.model.forward_transformer(feats, self.samples)
        cls_scores, bbox_preds = self.model.bbox_head(**head_inputs)
        if self.model.bbox_head.loss_cls.use_sigmoid:  # DINO
            scores = cls_scores[-1].sigmoid()
        else:
            scores = cls_scores[-1].softmax(-1)[..., :-1]
        if ball_feats is None:
            return scores, bbox_preds[-1]
        ball_head = self.model.ball_head
        ball_boxes, ball_scores = ball_head.decode_balls(
            *ball_head(ball_feats), image.shape[2:])
        return scores, bbox_preds[-1], ball_scores, ball_boxes

    @property
    def output_names(self):
        names = ['scores', 'boxes']
        if getattr(self.model, 'with_ball_head', False):
            names += ['ball_scores', 'ball_boxes']
        return names


def export_onnx(model_path: str,
                onnx_path: str,
                size: Tuple[int, int] = (640, 384),
                opset: int = 17) -> dict:
    """Export ``model_path`` (exported model or checkpoint) to ONNX, run both
    on the same random image and report the largest difference."""
    import onnxruntime as ort

    from .detector import LocalDetector
    detector = LocalDetector(model_path, device='cpu')
    wrapper = DetrOnnxWrapper(detector.model, size).eval()
    w, h = size
    rng = np.random.default_rng(0)
    rgb = rng.uniform(0, 255, size=(h, w, 3)).astype(np.float32)
    pre = detector.model.data_preprocessor
    x = (torch.from_numpy(rgb).permute(2, 0, 1)[None] - pre.mean) / pre.std

    os.makedirs(osp.dirname(osp.abspath(onnx_path)), exist_ok=True)
    with torch.no_grad():
        expected = [t.numpy() for t in wrapper(x)]
        torch.onnx.export(
            wrapper, (x, ),
            onnx_path,
            input_names=['image'],
            output_names=wrapper.output_names,
            opset_version=opset,
            dynamo=False)
    session = ort.InferenceSession(
        onnx_path, providers=['CPUExecutionProvider'])
    got = session.run(None, {'image': x.numpy()})
    diff = max(float(np.abs(a - b).max()) for a, b in zip(expected, got))
    return dict(
        max_abs_diff=diff,
        size_mb=osp.getsize(onnx_path) / 2**20,
        outputs=[o.shape for o in got])
