"""MMDetection's DINO head with :class:`FastDETRHead`'s batched loss.

``DINOHead.loss_by_feat`` has three parts, each per layer and per image in
the stock head: the Hungarian matching of the decoder layers' matching
queries (``DETRHead.loss_by_feat``), the same for the encoder's proposals,
and the denoising queries, whose targets are fixed by the ground truth
(``get_dn_targets``) but rebuilt for every layer, with a ``.item()`` and
the box losses' ``torch.any(weight > 0)`` each time.

``FastDINOHead`` keeps that structure and its arithmetic:

1. the decoder layers are matched as :class:`FastDETRHead` matches DETR's
   (all layers and images in one cost tensor, one host round trip); the
   ``FocalLossCost`` DINO matches with is computed on all of them at once;
2. the encoder's proposals the same way, as one more layer;
3. the denoising targets once per step, from host-side indices (the
   ground-truth counts and ``dn_meta`` are on the host), gathered on the
   device, and shared by every layer;
4. the losses with MMDetection's loss modules, normalisers from host-side
   counts.

Layers, weights, forward pass and prediction are ``DINOHead``'s; a setting
the batched path does not reproduce falls back to the stock loss.
"""
from typing import Dict, List

import numpy as np
import torch
from mmdet.models.dense_heads import DINOHead
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_xyxy_to_cxcywh
from mmdet.utils import InstanceList, OptInstanceList
from torch import Tensor

from .fast_detr_head import (FastDETRHead, named_losses, padded_ground_truth,
                             to_device)


@MODELS.register_module()
class FastDINOHead(DINOHead, FastDETRHead):
    """``DINOHead`` (same arguments, layers and outputs) whose loss is
    computed with batched matching and denoising targets.

    In the method order ``DINOHead``'s call of ``DETRHead.loss_by_feat``
    reaches :class:`FastDETRHead`'s. The losses and gradients equal
    ``DINOHead``'s (tested against the stock head over many seeds);
    ``bbox_head.type='DINOHead'`` selects the stock head again.
    """

    def loss_by_feat(
        self,
        all_layers_cls_scores: Tensor,
        all_layers_bbox_preds: Tensor,
        enc_cls_scores: Tensor,
        enc_bbox_preds: Tensor,
        batch_gt_instances: InstanceList,
        batch_img_metas: List[dict],
        dn_meta: Dict[str, int],
        batch_gt_instances_ignore: OptInstanceList = None
    ) -> Dict[str, Tensor]:
        if batch_gt_instances_ignore is not None \
                or not self.batched_loss_supported():
            return super().loss_by_feat(all_layers_cls_scores,
                                        all_layers_bbox_preds, enc_cls_scores,
                                        enc_bbox_preds, batch_gt_instances,
                                        batch_img_metas, dn_meta,
                                        batch_gt_instances_ignore)
        (matching_cls, matching_boxes, dn_cls,
         dn_boxes) = self.split_outputs(all_layers_cls_scores,
                                        all_layers_bbox_preds, dn_meta)
        # the decoder layers: FastDETRHead.loss_by_feat
        loss_dict = FastDETRHead.loss_by_feat(self, matching_cls,
                                              matching_boxes,
                                              batch_gt_instances,
                                              batch_img_metas)
        if enc_cls_scores is not None:
            loss_cls, loss_bbox, loss_iou = self.matched_loss(
                enc_cls_scores[None], enc_bbox_preds[None], batch_gt_instances,
                batch_img_metas)[0]
            loss_dict['enc_loss_cls'] = loss_cls
            loss_dict['enc_loss_bbox'] = loss_bbox
            loss_dict['enc_loss_iou'] = loss_iou
        if dn_cls is not None:
            targets = self.dn_targets(dn_boxes, batch_gt_instances,
                                      batch_img_metas, dn_meta)
            targets = dict(targets, **self.normalisers(targets, dn_cls.device))
            per_layer = []
            for layer in range(dn_cls.size(0)):
                losses = self.layer_loss(dn_cls[layer], dn_boxes[layer], 0,
                                         targets)
                if dn_cls.size(2) == 0:  # no denoising query (no box)
                    losses = (dn_cls.new_zeros(1), *losses[1:])
                per_layer.append(losses)
            loss_dict.update(named_losses(per_layer, kind='dn_'))
        return loss_dict

    def dn_targets(self, dn_bbox_preds: Tensor,
                   batch_gt_instances: InstanceList,
                   batch_img_metas: List[dict], dn_meta: Dict[str,
                                                              int]) -> dict:
        """``DINOHead.get_dn_targets`` for the whole batch, in
        :meth:`layer_loss`'s layout (one layer, shared by all): the positive
        denoising queries of each group take the image's boxes in order,
        the rest are background; box targets are the boxes normalised by
        the image size, as cxcywh."""
        num_imgs, num_dn = dn_bbox_preds.shape[1:3]
        num_groups = dn_meta['num_denoising_groups']
        per_group = int(num_dn / num_groups)
        device = dn_bbox_preds.device
        counts = [len(gt) for gt in batch_gt_instances]
        # the matched box of each denoising query, -1: background
        index = np.full((num_imgs, num_dn), -1, np.int64)
        for img, count in enumerate(counts):
            if count:
                boxes = np.arange(count)
                queries = np.arange(num_groups)[:, None] * per_group + boxes
                index[img, queries.ravel()] = np.tile(boxes, num_groups)
        num_pos = sum(counts) * num_groups
        index = to_device(index, device)
        positive = index >= 0
        gt_bboxes, gt_labels, factor = padded_ground_truth(
            batch_gt_instances, batch_img_metas, device)
        if gt_bboxes.size(1):
            gather = index.clamp(min=0)
            labels = torch.where(positive, gt_labels.gather(1, gather),
                                 self.num_classes)
            # DINOHead: the box / image size (ground truth's dtype), cxcywh
            box_targets = bbox_xyxy_to_cxcywh(
                gt_bboxes / factor.to(gt_bboxes.dtype)).gather(
                    1, gather[..., None].expand(-1, -1, 4))
            box_targets = torch.where(positive[..., None], box_targets, 0)
        else:
            labels = torch.full_like(index, self.num_classes)
            box_targets = torch.zeros((num_imgs, num_dn, 4), device=device)
        box_weights = positive[..., None].expand(-1, -1, 4).to(torch.float32)
        return dict(
            labels=labels.flatten()[None],
            label_weights=box_targets.new_ones(num_imgs * num_dn),
            box_targets=box_targets.flatten(0, 1)[None],
            box_weights=box_weights.flatten(0, 1)[None],
            factors=factor.to(dn_bbox_preds.dtype).expand(-1, num_dn,
                                                          -1).reshape(-1, 4),
            num_pos=num_pos,
            # DINOHead counts one negative query per positive one
            num_neg=num_pos)
