"""MMDetection's DETR head with a batched, sync-light loss.

``DETRHead.loss_by_feat`` matches and builds targets per decoder layer and
per image: every (layer, image) pair builds its cost matrix from small
kernels, copies it to the host, runs SciPy, copies the assignment back and
indexes with ``nonzero``/``unique``; each layer then reads ``num_total_pos``
with ``.item()`` and the box losses test ``torch.any(weight > 0)``. On a GPU
that is hundreds of host-device synchronisations per step.

``FastDETRHead`` computes the same thing in a different order:

1. the matching costs of all layers and images at once, with the same
   operations on the same values (the ground truth padded to the batch's
   largest box count), so every cost entry is bit-equal to the stock one;
2. one device-to-host copy of the costs, SciPy's ``linear_sum_assignment``
   on each (layer, image) slice, and one non-blocking copy of the
   assignments back (pinned memory on CUDA);
3. all targets with gather/where;
4. the losses per layer with MMDetection's own loss modules and functions,
   ``num_total_pos`` and the positives test from host-side box counts.

The layers, weights, forward pass and prediction are ``DETRHead``'s. Any
setting this head does not batch (other match costs, ``QualityFocalLoss``,
ignored boxes) falls back to the stock path.
"""
import copy
import inspect
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmdet.models.dense_heads import DETRHead
from mmdet.models.losses import GIoULoss, L1Loss, QualityFocalLoss
from mmdet.models.losses.iou_loss import giou_loss
from mmdet.models.losses.smooth_l1_loss import l1_loss
from mmdet.models.task_modules.assigners import (BBoxL1Cost,
                                                 ClassificationCost,
                                                 FocalLossCost,
                                                 HungarianAssigner, IoUCost)
from mmdet.registry import MODELS
from mmdet.structures.bbox import (bbox_cxcywh_to_xyxy, bbox_overlaps,
                                   bbox_xyxy_to_cxcywh)
from mmdet.utils import InstanceList, OptInstanceList
from scipy.optimize import linear_sum_assignment
from torch import Tensor
from torch import distributed as dist
from torch.nn.utils.rnn import pad_sequence

_BATCHED_COSTS = (ClassificationCost, FocalLossCost, BBoxL1Cost, IoUCost)


def to_device(array: np.ndarray, device: torch.device) -> Tensor:
    """A host array on ``device`` without blocking the host: through pinned
    memory and a non-blocking copy on CUDA."""
    tensor = torch.from_numpy(array)
    if device.type != 'cuda':
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def padded_ground_truth(batch_gt_instances: InstanceList,
                        batch_img_metas: List[dict],
                        device: torch.device) -> Tuple[Tensor, Tensor, Tensor]:
    """The batch's boxes (images, max boxes, 4) and labels (images, max
    boxes), zero-padded, and each image's (w, h, w, h) as (images, 1, 4)
    float32, copied to ``device`` once."""
    gt_bboxes = pad_sequence([gt.bboxes for gt in batch_gt_instances],
                             batch_first=True)
    gt_labels = pad_sequence([gt.labels for gt in batch_gt_instances],
                             batch_first=True)
    sizes = np.array([[m['img_shape'][1], m['img_shape'][0]] * 2
                      for m in batch_img_metas],
                     dtype=np.float32)
    return gt_bboxes, gt_labels, to_device(sizes, device)[:, None, :]


@MODELS.register_module()
class FastDETRHead(DETRHead):
    """``DETRHead`` whose loss matches all decoder layers and images in a
    few batched operations and one host round trip.

    It takes ``DETRHead``'s arguments; weights and outputs are unchanged, and
    the matching, loss terms and gradients equal ``DETRHead``'s (tested on the
    CPU against the stock head, fp32 and bf16 autocast). Setting
    ``bbox_head.type='DETRHead'`` in a config selects the stock head again.
    """

    def __init__(self, num_classes: int, **kwargs) -> None:
        # DETRHead turns loss_cls's class_weight / bg_cls_weight into a
        # per-class weight only when its class is exactly DETRHead (its
        # subclasses in mmdet use other class losses); do the same here.
        loss_cls = copy.deepcopy(
            kwargs.get(
                'loss_cls',
                inspect.signature(
                    DETRHead.__init__).parameters['loss_cls'].default))
        bg_cls_weight = 0
        class_weight = loss_cls.get('class_weight', None)
        if class_weight is not None:
            assert isinstance(class_weight, float), 'Expected class_weight ' \
                f'to have type float. Found {type(class_weight)}.'
            bg_cls_weight = loss_cls.pop('bg_cls_weight', class_weight)
            assert isinstance(bg_cls_weight, float), 'Expected ' \
                f'bg_cls_weight to have type float. Found ' \
                f'{type(bg_cls_weight)}.'
            weights = torch.ones(num_classes + 1) * class_weight
            weights[num_classes] = bg_cls_weight  # background: last
            loss_cls['class_weight'] = weights
        super().__init__(num_classes, **dict(kwargs, loss_cls=loss_cls))
        self.bg_cls_weight = bg_cls_weight

    def batched_loss_supported(self) -> bool:
        """Whether this head's settings are the ones the batched path
        reproduces exactly; otherwise ``DETRHead``'s loss runs."""
        assigner = getattr(self, 'assigner', None)
        return (type(assigner) is HungarianAssigner and all(
            type(c) in _BATCHED_COSTS and not getattr(c, 'binary_input', False)
            for c in assigner.match_costs)
                and not isinstance(self.loss_cls, QualityFocalLoss))

    def loss_by_feat(
        self,
        all_layers_cls_scores: Tensor,
        all_layers_bbox_preds: Tensor,
        batch_gt_instances: InstanceList,
        batch_img_metas: List[dict],
        batch_gt_instances_ignore: OptInstanceList = None
    ) -> Dict[str, Tensor]:
        if batch_gt_instances_ignore is not None \
                or not self.batched_loss_supported():
            return super().loss_by_feat(all_layers_cls_scores,
                                        all_layers_bbox_preds,
                                        batch_gt_instances, batch_img_metas,
                                        batch_gt_instances_ignore)
        return named_losses(
            self.matched_loss(all_layers_cls_scores, all_layers_bbox_preds,
                              batch_gt_instances, batch_img_metas))

    def matched_loss(self, all_layers_cls_scores: Tensor,
                     all_layers_bbox_preds: Tensor,
                     batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict]) -> list:
        """(loss_cls, loss_bbox, loss_iou) of each layer after Hungarian
        matching, as ``DETRHead.loss_by_feat_single`` gives them."""
        targets = self.batched_targets(all_layers_cls_scores,
                                       all_layers_bbox_preds,
                                       batch_gt_instances, batch_img_metas)
        targets = dict(
            targets, **self.normalisers(targets, all_layers_cls_scores.device))
        return [
            self.layer_loss(all_layers_cls_scores[layer],
                            all_layers_bbox_preds[layer], layer, targets)
            for layer in range(all_layers_cls_scores.size(0))
        ]

    # -- matching and targets ------------------------------------------------
    def batched_costs(self, cls_scores: Tensor, bbox_preds: Tensor,
                      gt_bboxes: Tensor, gt_labels: Tensor,
                      factor_pred: Tensor, factor_gt: Tensor) -> Tensor:
        """The Hungarian costs of every layer, image, query and (padded)
        ground-truth box, shape (layers, images, queries, max boxes), built
        with the operations ``HungarianAssigner`` and its match costs apply
        to one image, in the same order.

        ``factor_pred`` / ``factor_gt``: (images, 1, 4) image sizes in the
        predictions' and the ground truth's dtypes, as ``DETRHead`` and
        ``BBoxL1Cost`` make them.
        """
        num_layers = cls_scores.size(0)
        # DETRHead._get_targets_single: normalised cxcywh -> pixel xyxy
        pred_xyxy = bbox_cxcywh_to_xyxy(bbox_preds) * factor_pred
        costs = []
        for match_cost in self.assigner.match_costs:
            if isinstance(match_cost, ClassificationCost):
                scores = cls_scores.softmax(-1)
                index = gt_labels[None, :,
                                  None, :].expand(num_layers, -1,
                                                  scores.size(2), -1)
                cost = -scores.gather(-1, index)
            elif isinstance(match_cost, FocalLossCost):
                # FocalLossCost._focal_loss_cost, then the gt labels' columns
                p = cls_scores.sigmoid()
                alpha, gamma, eps = (match_cost.alpha, match_cost.gamma,
                                     match_cost.eps)
                neg = -(1 - p + eps).log() * (1 - alpha) * p.pow(gamma)
                pos = -(p + eps).log() * alpha * (1 - p).pow(gamma)
                index = gt_labels[None, :,
                                  None, :].expand(num_layers, -1, p.size(2),
                                                  -1)
                cost = pos.gather(-1, index) - neg.gather(-1, index)
            elif isinstance(match_cost, BBoxL1Cost):
                pred, gt = pred_xyxy, gt_bboxes
                if match_cost.box_format == 'xywh':
                    gt = bbox_xyxy_to_cxcywh(gt)
                    pred = bbox_xyxy_to_cxcywh(pred)
                gt = gt / factor_gt
                pred = pred / factor_gt
                cost = torch.cdist(pred, gt[None], p=1)
            else:  # IoUCost
                pred = pred_xyxy
                fp16 = pred.dtype == torch.float16
                if fp16:
                    pred = pred.to(torch.float32)
                overlaps = bbox_overlaps(
                    pred,
                    gt_bboxes[None].expand(num_layers, -1, -1, -1),
                    mode=match_cost.iou_mode,
                    is_aligned=False)
                if fp16:
                    overlaps = overlaps.to(torch.float16)
                cost = -overlaps
            costs.append(cost * match_cost.weight)
        return torch.stack(costs).sum(dim=0)

    def batched_targets(self, all_layers_cls_scores: Tensor,
                        all_layers_bbox_preds: Tensor,
                        batch_gt_instances: InstanceList,
                        batch_img_metas: List[dict]) -> dict:
        """Match every layer and image, then build ``DETRHead``'s targets
        for all of them: labels (layers, images * queries), label weights
        (images * queries), box targets and weights (layers,
        images * queries, 4), and the per-step normalisers."""
        num_layers, num_imgs, num_queries = all_layers_cls_scores.shape[:3]
        device = all_layers_cls_scores.device
        pred_dtype = all_layers_bbox_preds.dtype
        counts = [len(gt) for gt in batch_gt_instances]
        gt_bboxes, gt_labels, factor = padded_ground_truth(
            batch_gt_instances, batch_img_metas, device)
        factor_pred = factor.to(pred_dtype)
        factor_gt = factor.to(gt_bboxes.dtype)

        # -1: background; else the index of the matched box in its image
        assigned = np.full((num_layers, num_imgs, num_queries), -1, np.int64)
        max_count = max(counts)
        if max_count > 0:
            with torch.no_grad():
                costs = self.batched_costs(all_layers_cls_scores.detach(),
                                           all_layers_bbox_preds.detach(),
                                           gt_bboxes, gt_labels, factor_pred,
                                           factor_gt)
            if costs.dtype not in (torch.float32, torch.float64):
                costs = costs.float()  # exact; SciPy works in float64
            costs = costs.cpu().numpy()  # the one device-to-host copy
            if not np.isfinite(costs).all():
                # predictions gone non-finite after a diverged step: match
                # anyway, so the loss comes out non-finite and
                # FiniteLossHook (which may read it some steps later) stops
                # training, instead of SciPy failing here
                costs = np.nan_to_num(costs, nan=1e8, posinf=1e8, neginf=-1e8)
            for layer in range(num_layers):
                for img, count in enumerate(counts):
                    if count:
                        rows, cols = linear_sum_assignment(
                            costs[layer, img, :, :count])
                        assigned[layer, img, rows] = cols
        num_pos = sum(min(count, num_queries) for count in counts)

        assigned_host = assigned
        assigned = to_device(assigned, device)
        positive = assigned >= 0
        if max_count > 0:
            index = assigned.clamp(min=0)
            labels = gt_labels[None].expand(num_layers, -1,
                                            -1).gather(2, index)
            labels = torch.where(positive, labels, self.num_classes)
            # DETRHead: the matched box / image size, as cxcywh
            gt_targets = bbox_xyxy_to_cxcywh(gt_bboxes / factor_pred)
            box_targets = gt_targets[None].expand(
                num_layers, -1, -1,
                -1).gather(2, index[..., None].expand(-1, -1, -1, 4))
            box_targets = torch.where(positive[..., None], box_targets, 0)
        else:
            labels = torch.full_like(assigned, self.num_classes)
            box_targets = torch.zeros((num_layers, num_imgs, num_queries, 4),
                                      dtype=gt_bboxes.dtype,
                                      device=device)
        box_weights = positive[..., None].expand(-1, -1, -1,
                                                 4).to(gt_bboxes.dtype)
        return dict(
            assignment=assigned_host,
            labels=labels.flatten(1, 2),
            label_weights=gt_bboxes.new_ones(num_imgs * num_queries),
            box_targets=box_targets.flatten(1, 2),
            box_weights=box_weights.flatten(1, 2),
            factors=factor_pred.expand(-1, num_queries, -1).reshape(-1, 4),
            num_pos=num_pos,
            num_neg=num_imgs * num_queries - num_pos)

    # -- losses --------------------------------------------------------------
    def normalisers(self, targets: dict, device: torch.device) -> dict:
        """``DETRHead``'s ``cls_avg_factor`` and ``num_total_pos`` (as
        ``mean_pos``) from the host-side counts in ``targets``: the same for
        every layer, so one all-reduce per step when distributed and no
        device read otherwise (the stock head reduces and reads them once per
        layer)."""
        num_pos = targets['num_pos']
        cls_avg_factor = num_pos * 1.0 + targets['num_neg'] * \
            self.bg_cls_weight
        if dist.is_available() and dist.is_initialized() \
                and dist.get_world_size() > 1:
            values = torch.tensor([cls_avg_factor, num_pos],
                                  dtype=torch.float32,
                                  device=device)
            dist.all_reduce(values.div_(dist.get_world_size()))
            cls_mean, num_pos = values.tolist()
            if self.sync_cls_avg_factor:
                cls_avg_factor = cls_mean
        return dict(cls_avg_factor=cls_avg_factor, mean_pos=num_pos)

    def layer_loss(self, cls_scores: Tensor, bbox_preds: Tensor, layer: int,
                   targets: dict) -> Tuple[Tensor, ...]:
        """``DETRHead.loss_by_feat_single`` on precomputed targets (with
        :meth:`normalisers` applied)."""
        cls_avg_factor = targets['cls_avg_factor']
        if self.sync_cls_avg_factor and cls_avg_factor >= 1:
            # the stock head's max(tensor, 1): a one-element tensor of the
            # scores' dtype (a loss of shape (1, )), made from the host value
            cls_avg_factor = cls_scores.new_tensor([cls_avg_factor])
        else:
            cls_avg_factor = max(cls_avg_factor, 1)
        loss_cls = self.loss_cls(
            cls_scores.reshape(-1, self.cls_out_channels),
            targets['labels'][layer],
            targets['label_weights'],
            avg_factor=cls_avg_factor)
        # DETRHead reads num_total_pos through a tensor of the class
        # loss's dtype; round it the same way, on the host.
        num_total_pos = max(
            round_to_dtype(targets['mean_pos'], loss_cls.dtype), 1)

        box_targets = targets['box_targets'][layer]
        box_weights = targets['box_weights'][layer]
        any_pos = targets['num_pos'] > 0
        bbox_preds = bbox_preds.reshape(-1, 4)
        factors = targets['factors']
        bboxes = bbox_cxcywh_to_xyxy(bbox_preds) * factors
        bboxes_gt = bbox_cxcywh_to_xyxy(box_targets) * factors
        loss_iou = box_loss(self.loss_iou, bboxes, bboxes_gt, box_weights,
                            num_total_pos, any_pos)
        loss_bbox = box_loss(self.loss_bbox, bbox_preds, box_targets,
                             box_weights, num_total_pos, any_pos)
        return loss_cls, loss_bbox, loss_iou


def named_losses(per_layer: list, kind: str = '') -> Dict[str, Tensor]:
    """Per-layer (cls, bbox, iou) losses under MMDetection's names, in its
    order: the last layer's ``{kind}loss_cls`` ... first, then
    ``d{i}.{kind}loss_cls`` ... for the others."""
    names = [f'{kind}loss_cls', f'{kind}loss_bbox', f'{kind}loss_iou']
    loss_dict = dict(zip(names, per_layer[-1]))
    for i, losses in enumerate(per_layer[:-1]):
        loss_dict.update(zip((f'd{i}.{n}' for n in names), losses))
    return loss_dict


def round_to_dtype(value: float, dtype: torch.dtype) -> float:
    """``value`` rounded to ``dtype`` as a Python float, computed on the
    host without reading a tensor back (no ``.item()``)."""
    return float(
        torch.tensor([value], dtype=dtype).to(torch.float64).numpy()[0])


def box_loss(module, pred: Tensor, target: Tensor, weight: Tensor,
             avg_factor: float, any_pos: Optional[bool]) -> Tensor:
    """``module(pred, target, weight, avg_factor=avg_factor)`` for mmdet's
    ``L1Loss`` and ``GIoULoss`` without their ``torch.any(weight > 0)`` test
    (a device sync): ``any_pos``, known on the host, answers it. Other loss
    modules are called as they are."""
    if type(module) not in (L1Loss, GIoULoss):
        return module(pred, target, weight, avg_factor=avg_factor)
    if not any_pos:  # the modules' own early return
        return (pred * weight).sum()
    if type(module) is GIoULoss:
        return module.loss_weight * giou_loss(
            pred,
            target,
            weight.mean(-1),
            eps=module.eps,
            reduction=module.reduction,
            avg_factor=avg_factor)
    return module.loss_weight * l1_loss(
        pred,
        target,
        weight,
        reduction=module.reduction,
        avg_factor=avg_factor)
