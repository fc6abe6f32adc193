"""The ball head's wiring into a DETR-family detector, shared by
``FieldDETR`` and ``FieldDINO``.

:class:`BallHeadMixin` goes before MMDetection's detector class
(``class FieldDINO(BallHeadMixin, DINO)``). With ``ball_head`` (a
:class:`BallHeatmapHead` config) the backbone also returns the levels the
head reads (ResNet's layers are the same whatever it returns), the head's
loss is added to the detector's, and the ``ball`` detections of the output
are the head's: the detector still trains on both classes (its loss stays
MMDetection's), but its own ball predictions are dropped, so each class has
one source and no ball is reported twice with scores of two scales.
Without ``ball_head`` the detector is MMDetection's exactly.
"""
import copy
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmengine.logging import MMLogger
from mmengine.structures import InstanceData
from torch import Tensor


class BallHeadMixin:
    """An optional ball head on the detector's backbone (see the module).

    Args:
        ball_head (dict, optional): a ball head config. Defaults to None
            (the detector exactly).
        detector_downsample (int): the detector (backbone, neck,
            transformer) reads the image average-pooled by this factor,
            while the ball head's own stem reads it whole: small balls at
            the frame's own size for the cost of a detector at a fraction
            of it (the boxes stay in the input's pixels; DETR and DINO
            place them relative to the image). Needs a head with a stem
            (``image_channels``). Defaults to 1 (one size for both).
        **kwargs: the detector's arguments.
    """

    def __init__(self,
                 *args,
                 ball_head: Optional[dict] = None,
                 detector_downsample: int = 1,
                 **kwargs) -> None:
        if detector_downsample != 1 and not (ball_head and
                                             ball_head.get('image_channels')):
            raise ValueError('detector_downsample needs a ball head with a '
                             'stem of its own (ball_head.image_channels)')
        if int(detector_downsample) != detector_downsample or \
                detector_downsample < 1:
            raise ValueError(f'detector_downsample must be a whole number '
                             f'from 1, not {detector_downsample!r}')
        self.detector_downsample = int(detector_downsample)
        # positions of the detector's and the head's levels among the
        # backbone's outputs (None: the backbone returns the detector's)
        self._detector_levels = self._ball_levels = None
        if ball_head is not None:
            backbone = copy.deepcopy(kwargs['backbone'])
            own = tuple(backbone['out_indices'])
            ball = tuple(ball_head['in_indices'])
            levels = sorted(set(own) | set(ball))
            backbone['out_indices'] = tuple(levels)
            kwargs['backbone'] = backbone
            self._detector_levels = [levels.index(i) for i in own]
            self._ball_levels = [levels.index(i) for i in ball]
        super().__init__(*args, **kwargs)
        self.ball_head = None
        if ball_head is not None:
            # the head draws from a copy of the random state (here and in
            # init_weights): a seed gives the same initial detector, head
            # or not
            with torch.random.fork_rng(devices=[]):
                self.ball_head = MODELS.build(ball_head)
            self._register_load_state_dict_pre_hook(
                _initialise_missing_ball_head, with_module=True)

    def init_weights(self) -> None:
        """The detector's initialisation, drawn as without the head; then
        the head's, from a copy of the random state (so the draws after it,
        dropout's, are also those of the model without the head)."""
        head = self._modules.pop('ball_head', None)
        try:
            super().init_weights()
        finally:
            if head is not None:
                self._modules['ball_head'] = head
        if head is not None:
            with torch.random.fork_rng(devices=[]):
                head.init_weights()

    @property
    def with_ball_head(self) -> bool:
        return self.ball_head is not None

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor]:
        """The detector's features (after the neck)."""
        return self.extract_feats(batch_inputs)[0]

    def backbone_input(self, batch_inputs: Tensor) -> Tensor:
        """The images as the backbone takes them (a subclass may change
        their memory format)."""
        return batch_inputs

    def extract_feats(
            self, batch_inputs: Tensor) -> Tuple[Tuple[Tensor], Tuple[Tensor]]:
        """``(the detector's features after the neck, the ball head's
        inputs or None)`` from one backbone pass; the head's inputs are its
        backbone levels, after the input image when it has a stem of its
        own."""
        detector_inputs = batch_inputs
        if self.detector_downsample > 1:
            detector_inputs = F.avg_pool2d(
                batch_inputs, self.detector_downsample, ceil_mode=True)
        feats = self.backbone(self.backbone_input(detector_inputs))
        ball_feats = None
        if self._detector_levels is not None:
            if self.with_ball_head:
                ball_feats = tuple(feats[i] for i in self._ball_levels)
                if self.ball_head.reads_image:
                    ball_feats = (batch_inputs, ) + ball_feats
            feats = tuple(feats[i] for i in self._detector_levels)
        if self.with_neck:
            feats = self.neck(feats)
        return feats, ball_feats

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> dict:
        img_feats, ball_feats = self.extract_feats(batch_inputs)
        head_inputs_dict = self.forward_transformer(img_feats,
                                                    batch_data_samples)
        losses = self.bbox_head.loss(
            **head_inputs_dict, batch_data_samples=batch_data_samples)
        if self.with_ball_head:
            losses.update(self.ball_head.loss(ball_feats, batch_data_samples))
        return losses

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        img_feats, ball_feats = self.extract_feats(batch_inputs)
        head_inputs_dict = self.forward_transformer(img_feats,
                                                    batch_data_samples)
        results_list = self.bbox_head.predict(
            **head_inputs_dict,
            rescale=rescale,
            batch_data_samples=batch_data_samples)
        if self.with_ball_head:
            balls = self.ball_head.predict(ball_feats, batch_data_samples,
                                           rescale)
            label = self.ball_head.label
            results_list = [
                InstanceData.cat([own[own.labels != label], ball])
                for own, ball in zip(results_list, balls)
            ]
        return self.add_pred_to_datasample(batch_data_samples, results_list)

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: Optional[SampleList] = None) -> tuple:
        """The detector head's raw outputs, followed by the ball head's
        ``(heatmap, wh, offset)`` when there is one."""
        img_feats, ball_feats = self.extract_feats(batch_inputs)
        head_inputs_dict = self.forward_transformer(img_feats,
                                                    batch_data_samples)
        results = self.bbox_head.forward(**head_inputs_dict)
        if self.with_ball_head:
            results = tuple(results) + tuple(self.ball_head(ball_feats))
        return results


def _initialise_missing_ball_head(module: BallHeadMixin, state_dict: dict,
                                  prefix: str, *args) -> None:
    """``load_state_dict`` pre-hook: a checkpoint of the model without the
    ball head (trained before it existed, or with it off) loads, the head
    keeping its initial weights, with one log line."""
    head = f'{prefix}ball_head.'
    if any(key.startswith(head) for key in state_dict):
        return
    own = module.ball_head.state_dict(prefix=head)
    state_dict.update(own)
    MMLogger.get_current_instance().info(
        f'the checkpoint has no ball head: ball_head starts from its '
        f'initialisation ({len(own)} tensors)')
