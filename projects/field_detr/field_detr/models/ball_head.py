"""A ball head beside the DETR: a CenterNet heatmap at stride 4.

DETR predicts from one stride-32 (R-50) or stride-16 map with a set loss
that weighs a 2-8 px ball like any box; it finds no ball. This head follows
the DeepBall / FootAndBall / CenterNet recipe instead: the backbone's levels
are fused top-down (FPN-style, a 1x1 lateral conv per level, nearest
upsampling, one 3x3 conv) into a stride-4 map, and MMDetection's
``CenterNetHead`` branches predict from it a centre heatmap, the box size
and the sub-cell offset, trained with its ``GaussianFocalLoss`` and
``L1Loss`` on Gaussian peaks at the ball centres.

What differs from ``CenterNetHead``:

* the input is several backbone levels (finest first), fused here;
* the targets of the whole batch are built with tensor operations
  (``ball_targets.py``), with no host read per image or box; the Gaussian
  radius is CenterNet's, with a floor of ``min_radius`` cells so a ball of
  a few pixels still gets a peak wider than one cell;
* one class: the detections carry the label ``label`` (the ball's index in
  the detector's classes), and the ground truth of other classes is ignored.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmdet.models.dense_heads import CenterNetHead
from mmdet.models.utils import (get_local_maximum, get_topk_from_heatmap,
                                transpose_and_gather_feat)
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import InstanceList, reduce_mean
from mmengine.config import ConfigDict
from mmengine.dist import get_world_size
from mmengine.structures import InstanceData
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_sequence

from .ball_targets import heatmap_targets
from .fast_detr_head import box_loss


def _conv_block(in_channels: int, out_channels: int, stride: int,
                norm_cfg: Optional[dict]) -> List[nn.Module]:
    """A 3x3 convolution, the ``norm_cfg`` layer if any, and a ReLU (the
    layers alone, so a head without a norm keeps its parameter names)."""
    conv = nn.Conv2d(
        in_channels,
        out_channels,
        3,
        stride=stride,
        padding=1,
        bias=norm_cfg is None)
    if norm_cfg is None:
        return [conv, nn.ReLU(inplace=True)]
    return [
        conv,
        build_norm_layer(norm_cfg, out_channels)[1],
        nn.ReLU(inplace=True)
    ]


@MODELS.register_module()
class BallHeatmapHead(CenterNetHead):
    """Ball centres as a stride-4 heatmap from fused backbone levels.

    Args:
        in_channels (Sequence[int]): channels of the backbone levels it
            reads, finest (stride 4) first, each next level at twice the
            stride of the previous one.
        in_indices (Sequence[int]): the backbone's stage indices of those
            levels (ResNet's ``out_indices`` numbering); the detector asks
            its backbone for them.
        feat_channels (int): channels of the fused map and of the branches.
            Defaults to 32.
        label (int): the class index of the ball in the detector's classes.
            Defaults to 1 (``('player', 'ball')``).
        min_overlap (float): CenterNet's IoU for the Gaussian radius.
            Defaults to 0.3.
        image_channels (int): channels of the head's own stem on the input
            image (two stride-2 3x3 convolutions to stride 4, added to the
            fused map): pixel-level features for a ball of a few pixels
            that the backbone, trained for the DETR, may not keep. 0 (the
            default) reads the backbone levels alone.
        backbone_grad (float): the share of the head's gradient that flows
            into the shared backbone levels (the forward pass is the same).
            0 detaches them: the DETR then trains exactly as without the
            head, and the head learns on the DETR's features. Defaults to
            1.0.
        norm_cfg (dict, optional): a normalisation layer after each 3x3
            convolution of the stem and of the fused map (e.g.
            ``dict(type='GN', num_groups=8)``). None (the default): none.
        loss_center_heatmap, loss_wh, loss_offset (dict): the losses, as in
            ``CenterNetHead``.
        test_cfg (dict): ``topk`` (ball candidates per image, default 10)
            and ``local_maximum_kernel`` (default 3).
    """

    #: the smallest Gaussian radius, in heatmap cells: a ball of a few
    #: pixels still gets a peak wider than one cell (0 gives CenterNet's
    #: targets exactly, tests/models/test_ball_head.py)
    min_radius = 1

    def __init__(self,
                 in_channels: Sequence[int],
                 in_indices: Sequence[int],
                 feat_channels: int = 32,
                 label: int = 1,
                 min_overlap: float = 0.3,
                 backbone_grad: float = 1.0,
                 image_channels: int = 0,
                 norm_cfg: Optional[dict] = None,
                 loss_center_heatmap: dict = dict(
                     type='GaussianFocalLoss', loss_weight=1.0),
                 loss_wh: dict = dict(type='L1Loss', loss_weight=0.1),
                 loss_offset: dict = dict(type='L1Loss', loss_weight=1.0),
                 test_cfg: dict = dict(topk=10, local_maximum_kernel=3),
                 init_cfg=None) -> None:
        if len(in_channels) != len(in_indices) or not in_channels:
            raise ValueError('BallHeatmapHead: in_channels and in_indices '
                             'must name the same backbone levels')
        super().__init__(
            in_channels=feat_channels,
            feat_channels=feat_channels,
            num_classes=1,
            loss_center_heatmap=loss_center_heatmap,
            loss_wh=loss_wh,
            loss_offset=loss_offset,
            test_cfg=ConfigDict(test_cfg),
            init_cfg=init_cfg)
        self.in_indices = tuple(in_indices)
        self.label = label
        self.min_overlap = min_overlap
        if not 0 <= backbone_grad <= 1:
            raise ValueError(f'BallHeatmapHead: backbone_grad must be in '
                             f'[0, 1], not {backbone_grad}')
        self.backbone_grad = backbone_grad
        self.lateral_convs = nn.ModuleList(
            nn.Conv2d(c, feat_channels, kernel_size=1) for c in in_channels)
        self.image_channels = image_channels
        if image_channels:
            self.image_stem = nn.Sequential(
                *_conv_block(3, image_channels, 2, norm_cfg),
                *_conv_block(image_channels, image_channels, 2, norm_cfg),
                nn.Conv2d(image_channels, feat_channels, kernel_size=1))
        self.fuse_conv = nn.Sequential(
            *_conv_block(feat_channels, feat_channels, 1, norm_cfg))
        # CenterNetHead.init_weights sets the heatmap's bias to a prior of
        # 0.1 and small regression weights; do it on construction too, so
        # a model built without init_weights() (an exported model before
        # its weights load, a checkpoint without the head) starts the same.
        self.init_weights()

    @property
    def reads_image(self) -> bool:
        """Whether ``feats`` starts with the input image (a stem of its
        own, ``image_channels``)."""
        return bool(self.image_channels)

    def forward(self, feats: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """``(heatmap (B, 1, H, W) after sigmoid, wh (B, 2, H, W),
        offset (B, 2, H, W))`` at the finest level's resolution. ``feats``:
        the backbone levels, finest first, after the input image when the
        head has its own stem."""
        return self.forward_single(self.fused(feats))

    def fused(self, feats: Sequence[Tensor]) -> Tensor:
        """The fused stride-4 map (B, feat_channels, H, W) the three
        branches read (``feats`` as in ``forward``)."""
        image = None
        if self.reads_image:
            image, feats = feats[0], feats[1:]
        if self.backbone_grad < 1:
            g = self.backbone_grad
            feats = [
                f.detach() if g == 0 else f * g + f.detach() * (1 - g)
                for f in feats
            ]
        x = self.lateral_convs[-1](feats[-1])
        for lateral, feat in zip(self.lateral_convs[-2::-1], feats[-2::-1]):
            x = lateral(feat) + F.interpolate(
                x, size=feat.shape[-2:], mode='nearest')
        if image is not None:
            stem = self.image_stem(image)
            if stem.shape[-2] > x.shape[-2]:
                # levels of a detector that reads the image downsampled
                # (detector_downsample): the map is the stem's, stride 4
                x = F.interpolate(x, size=stem.shape[-2:], mode='nearest')
            elif stem.shape[-2:] != x.shape[-2:]:
                stem = F.interpolate(stem, size=x.shape[-2:], mode='nearest')
            x = x + stem
        return self.fuse_conv(x)

    @staticmethod
    def branch_at(branch: nn.Sequential, x: Tensor, cells: Tensor) -> Tensor:
        """``branch(x)`` read at ``cells`` (B, M), flat indices into the
        map's H * W: (B, C_out, M). The branch's first convolution runs on
        the cells' neighbourhoods alone (gathered, zero-padded as the
        convolution pads) and the rest, 1x1 convolutions, on their
        outputs: the values of the whole-map branch at those cells, for
        the work of M cells instead of H * W."""
        first = branch[0]
        (k, _), (pad, _) = first.kernel_size, first.padding
        bs, channels, height, width = x.shape
        if k > 1:
            x = F.pad(x, (pad, pad, pad, pad))
        offsets = torch.arange(k, device=x.device)
        rows = (cells // width)[..., None, None] + offsets[:, None]
        cols = (cells % width)[..., None, None] + offsets
        index = (rows * (width + 2 * pad) + cols).view(bs, 1, -1)
        patches = x.flatten(2).gather(2, index.expand(-1, channels, -1))
        # (B, C, M, k * k) -> (B, M, C * k * k): the weight's (in, kh, kw)
        y = patches.view(bs, channels, -1, k * k).transpose(1, 2).flatten(2)
        for module in branch:
            if isinstance(module, nn.Conv2d):
                y = F.linear(y, module.weight.flatten(1), module.bias)
            else:
                y = module(y)
        return y.transpose(1, 2)

    # -- training ------------------------------------------------------------
    def loss(self, feats: Sequence[Tensor],
             batch_data_samples: SampleList) -> dict:
        gts = [s.gt_instances for s in batch_data_samples]
        metas = [s.metainfo for s in batch_data_samples]
        # the size and offset losses weigh only the balls' centre cells:
        # their branches run there alone (the same losses and gradients as
        # on the whole map, which loss_by_feat takes)
        x = self.fused(feats)
        heatmap = self.heatmap_head(x).sigmoid().float()
        targets, _ = self.get_targets([gt.bboxes for gt in gts],
                                      [gt.labels for gt in gts], heatmap.shape,
                                      metas[0]['batch_input_shape'])
        cells = targets['ball_cells']
        at_cells = cells[:, None].expand(-1, 2, -1)
        weight = targets['ball_cell_share'][:, None].expand(-1, 2, -1)
        return self._losses(
            heatmap,
            self.branch_at(self.wh_head, x, cells).float(),
            self.branch_at(self.offset_head, x, cells).float(),
            dict(
                center_heatmap_target=targets['center_heatmap_target'],
                wh_target=targets['wh_target'].flatten(2).gather(2, at_cells),
                offset_target=targets['offset_target'].flatten(2).gather(
                    2, at_cells),
                wh_offset_target_weight=weight))

    def loss_by_feat(self,
                     center_heatmap_preds: List[Tensor],
                     wh_preds: List[Tensor],
                     offset_preds: List[Tensor],
                     batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict],
                     batch_gt_instances_ignore=None) -> dict:
        """``CenterNetHead``'s losses in float32 (the heatmap's focal loss
        takes logs of sigmoid outputs) on batched targets."""
        heatmap = center_heatmap_preds[0].float()
        targets, _ = self.get_targets([gt.bboxes for gt in batch_gt_instances],
                                      [gt.labels for gt in batch_gt_instances],
                                      heatmap.shape,
                                      batch_img_metas[0]['batch_input_shape'])
        return self._losses(heatmap, wh_preds[0].float(),
                            offset_preds[0].float(), targets)

    def _losses(self, heatmap: Tensor, wh: Tensor, offset: Tensor,
                targets: dict) -> dict:
        """CenterNetHead's losses on the targets of ``get_targets`` (or a
        window of them, or the size and offset at the balls' cells with
        each ball's share of its cell as weight), normalised by
        CenterNetHead's factor: the number of peaks (cells with a ball; the
        weights' sum in each form), at least 1."""
        weight = targets['wh_offset_target_weight']
        if get_world_size() > 1:
            # the peaks of all processes: with DDP's mean of the gradients,
            # the loss of the whole batch, as one process would compute it
            avg_factor = reduce_mean(
                weight[:, 0].sum()).clamp(min=1 / get_world_size())
        else:
            avg_factor = weight[:, 0].sum().round().clamp(min=1)
        # as CenterNetHead: the regressions' factor is twice the heatmap's
        # (two channels each). box_loss: L1Loss without its torch.any()
        # test of the weights, a host read (all-zero weights give 0 either
        # way)
        return dict(
            loss_ball_heatmap=self.loss_center_heatmap(
                heatmap,
                targets['center_heatmap_target'],
                avg_factor=avg_factor),
            loss_ball_wh=box_loss(self.loss_wh, wh, targets['wh_target'],
                                  weight, avg_factor * 2, True),
            loss_ball_offset=box_loss(self.loss_offset, offset,
                                      targets['offset_target'], weight,
                                      avg_factor * 2, True))

    def _padded_balls(self, gt_bboxes: List[Tensor],
                      gt_labels: List[Tensor]) -> Tuple[Tensor, Tensor]:
        """The batch's boxes (B, M, 4) as float, zero-padded, and which of
        them are balls (B, M) (padding is not); one zero box per image when
        the batch has no box at all."""
        boxes = pad_sequence(gt_bboxes, batch_first=True).float()
        labels = pad_sequence(gt_labels, batch_first=True, padding_value=-1)
        if boxes.numel() == 0:
            bs = len(gt_bboxes)
            return boxes.new_zeros((bs, 1, 4)), labels.new_zeros(
                (bs, 1), dtype=torch.bool)
        return boxes, labels == self.label

    def get_targets(self, gt_bboxes: List[Tensor], gt_labels: List[Tensor],
                    feat_shape: Sequence[int],
                    img_shape: Sequence[int]) -> Tuple[dict, Tensor]:
        """``CenterNetHead.get_targets`` for the whole batch at once, the
        ground truth of classes other than ``label`` left out by weight.

        Returns the targets (heatmap, wh, offset, and the wh/offset weight
        at each ball's centre cell; ``ball_cells``, each box's centre cell
        (B, M), and ``ball_cell_share``, a ball's share of its cell) and
        ``CenterNetHead``'s average factor (the number of peaks, at least
        1) as a tensor, so nothing is read back to the host.
        """
        boxes, ball = self._padded_balls(gt_bboxes, gt_labels)
        out, count = heatmap_targets(boxes, ball, feat_shape, img_shape,
                                     self.min_overlap, self.min_radius)
        # CenterNetHead's: the number of peaks, at least 1
        return out, (count[:, 0] > 0).sum().clamp(min=1).float()

    # -- prediction ----------------------------------------------------------
    def predict(self,
                feats: Sequence[Tensor],
                batch_data_samples: SampleList,
                rescale: bool = True) -> InstanceList:
        heatmap, wh, offset = self(feats)
        metas = [s.metainfo for s in batch_data_samples]
        return self.predict_by_feat([heatmap], [wh], [offset], metas, rescale)

    def predict_by_feat(self,
                        center_heatmap_preds: List[Tensor],
                        wh_preds: List[Tensor],
                        offset_preds: List[Tensor],
                        batch_img_metas: List[dict],
                        rescale: bool = True,
                        with_nms: bool = False) -> InstanceList:
        """The ``topk`` heatmap peaks of each image as ball detections,
        in the input image's pixels, or the original image's with
        ``rescale``; decoded for the whole batch at once."""
        boxes, scores = self.decode_balls(
            center_heatmap_preds[0].float(), wh_preds[0].float(),
            offset_preds[0].float(), batch_img_metas[0]['batch_input_shape'])
        results = []
        for img_boxes, img_scores, meta in zip(boxes, scores, batch_img_metas):
            if rescale and 'scale_factor' in meta:
                img_boxes = img_boxes / img_boxes.new_tensor(
                    meta['scale_factor']).repeat(2)
            result = InstanceData()
            result.bboxes = img_boxes
            result.scores = img_scores
            result.labels = torch.full_like(
                img_scores, self.label, dtype=torch.long)
            results.append(result)
        return results

    def decode_balls(self, heatmap: Tensor, wh: Tensor, offset: Tensor,
                     input_shape: Sequence[int]) -> Tuple[Tensor, Tensor]:
        """``(boxes (B, k, 4) xyxy in input pixels, scores (B, k))`` of the
        ``k = test_cfg.topk`` strongest local maxima (tensor operations
        only, so the ONNX export traces it too)."""
        height, width = heatmap.shape[2:]
        k = min(self.test_cfg.get('topk', 10), height * width)
        peaks = get_local_maximum(
            heatmap, kernel=self.test_cfg.get('local_maximum_kernel', 3))
        scores, index, _, ys, xs = get_topk_from_heatmap(peaks, k=k)
        wh = transpose_and_gather_feat(wh, index)
        offset = transpose_and_gather_feat(offset, index)
        cx = xs + offset[..., 0]
        cy = ys + offset[..., 1]
        scale_x = input_shape[1] / width
        scale_y = input_shape[0] / height
        boxes = torch.stack([(cx - wh[..., 0] / 2) * scale_x,
                             (cy - wh[..., 1] / 2) * scale_y,
                             (cx + wh[..., 0] / 2) * scale_x,
                             (cy + wh[..., 1] / 2) * scale_y],
                            dim=-1)
        return boxes, scores
