"""MMDetection's DETR with its attention through PyTorch's fused
scaled-dot-product attention, optional channels-last backbone and compiled
submodules, and an optional ball head on the same backbone.

mmcv's ``MultiheadAttention`` calls ``nn.MultiheadAttention`` with its
default ``need_weights=True``, which makes PyTorch compute the attention
with explicit matmul + softmax and materialise the (averaged) weights that
DETR never reads. With ``need_weights=False`` the same module runs
``F.scaled_dot_product_attention`` (flash / memory-efficient kernels on a
GPU). Parameters, their names and the computation are unchanged, so
checkpoints load both ways.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.detectors import DETR
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmengine.logging import MMLogger
from torch import Tensor, nn

from .ball_detector import BallHeadMixin
from .cuda_graphs import ShapeGraphs, cuda_graph_capture, graph_key


class SDPAMultiheadAttention(nn.MultiheadAttention):
    """``nn.MultiheadAttention`` that never returns attention weights, so
    PyTorch computes it with ``scaled_dot_product_attention``. It returns
    ``(output, None)``; the parameters are ``nn.MultiheadAttention``'s."""

    def forward(self,
                query: Tensor,
                key: Tensor,
                value: Tensor,
                key_padding_mask: Optional[Tensor] = None,
                need_weights: bool = False,
                attn_mask: Optional[Tensor] = None,
                average_attn_weights: bool = True,
                is_causal: bool = False) -> Tuple[Tensor, None]:
        return super().forward(
            query,
            key,
            value,
            key_padding_mask=key_padding_mask,
            need_weights=False,
            attn_mask=attn_mask,
            average_attn_weights=average_attn_weights,
            is_causal=is_causal)


def use_sdpa_attention(module: nn.Module) -> int:
    """Switch every plain ``nn.MultiheadAttention`` inside ``module`` to
    :class:`SDPAMultiheadAttention` (same parameters); returns how many."""
    count = 0
    for m in module.modules():
        if type(m) is nn.MultiheadAttention:
            m.__class__ = SDPAMultiheadAttention
            count += 1
    return count


@MODELS.register_module()
class FieldDETR(BallHeadMixin, DETR):
    """MMDetection's ``DETR`` with three speed settings and an optional ball
    head (``ball_detector.py``); without the head, the layers, parameter
    names and outputs are ``DETR``'s.

    Args:
        attention (str): ``'sdpa'`` (default) computes the transformer's
            attention with ``scaled_dot_product_attention``; ``'stock'``
            keeps mmcv's call, which also computes the attention weights.
        channels_last (bool): run the backbone in channels-last memory
            format. Defaults to False.
        compile_modules (Sequence[str]): submodules to ``torch.compile`` in
            place (their state dict is unchanged) the first time the model
            runs on a GPU, e.g. ``('backbone', 'encoder', 'decoder')``; never
            the head's loss, whose Hungarian matching runs on the host.
            Defaults to none.
        compile_options (dict): keyword arguments of ``torch.compile``.
            Defaults to ``dict(dynamic=True)``: one graph for every input
            size of the multi-scale pipeline.
        ball_head (dict, optional): a ball head config. Defaults to None
            (MMDetection's DETR exactly).
        cuda_graphs (bool): in training on a GPU, run backbone, neck,
            encoder and decoder (forward and backward) as one CUDA graph per
            input shape (``models/cuda_graphs.py``); the heads' outputs,
            losses and matching stay eager. Off on a CPU and under a
            distributed launcher (one log line). Defaults to False.
        cuda_graph_options (dict): ``ShapeGraphs``'s ``capture_after``
            (default 2) and ``max_graphs`` (default 8).
        **kwargs: ``DETR``'s arguments.
    """

    def __init__(self,
                 *args,
                 attention: str = 'sdpa',
                 ball_head: Optional[dict] = None,
                 channels_last: bool = False,
                 compile_modules: Sequence[str] = (),
                 compile_options: Optional[dict] = None,
                 cuda_graphs: bool = False,
                 cuda_graph_options: Optional[dict] = None,
                 **kwargs) -> None:
        if attention not in ('sdpa', 'stock'):
            raise ValueError(f"attention must be 'sdpa' or 'stock', "
                             f'not {attention!r}')
        super().__init__(*args, ball_head=ball_head, **kwargs)
        self.attention = attention
        if attention == 'sdpa':
            use_sdpa_attention(self.encoder)
            use_sdpa_attention(self.decoder)
        self.channels_last = channels_last
        if channels_last:
            self.backbone.to(memory_format=torch.channels_last)
        for name in compile_modules:
            if not isinstance(getattr(self, name, None), nn.Module):
                raise ValueError(f'compile_modules: FieldDETR has no '
                                 f'submodule {name!r}')
        self.compile_modules = tuple(compile_modules)
        self.compile_options = dict(dynamic=True) if compile_options is None \
            else dict(compile_options)
        self._compiled = False
        self.cuda_graphs = cuda_graphs
        self.cuda_graph_options = dict(cuda_graph_options or {})
        # ShapeGraphs, made on the first training step on a GPU
        self._graphs = None

    def compile_submodules(self) -> None:
        """``torch.compile`` the modules named in ``compile_modules``, in
        place (``nn.Module.compile``: names and state dict unchanged)."""
        for name in self.compile_modules:
            getattr(self, name).compile(**self.compile_options)
        self._compiled = True

    def backbone_input(self, batch_inputs: Tensor) -> Tensor:
        """The images in the backbone's memory format, the submodules
        compiled first when the model first runs on a GPU."""
        if self.compile_modules and not self._compiled \
                and batch_inputs.is_cuda:
            self.compile_submodules()
        if self.channels_last:
            batch_inputs = batch_inputs.contiguous(
                memory_format=torch.channels_last)
        return batch_inputs

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> dict:
        if self._graphs_on(batch_inputs):
            return self.loss_through_graphs(batch_inputs, batch_data_samples)
        return super().loss(batch_inputs, batch_data_samples)

    # -- CUDA graphs ----------------------------------------------------------
    def _graphs_on(self, batch_inputs: Tensor) -> bool:
        """Whether this training step goes through the graphs (made on the
        first call that can use them)."""
        if self._graphs is not None:
            return self.training
        if not (self.cuda_graphs and self.training):
            return False
        reason = None
        if not batch_inputs.is_cuda:
            reason = 'the model is not on a GPU'
        elif torch.distributed.is_available() and \
                torch.distributed.is_initialized():
            reason = 'distributed training is not supported with them'
        elif self.compile_modules:
            reason = 'compile_modules is set'
        if reason:
            self.cuda_graphs = False
            MMLogger.get_current_instance().info(
                f'CUDA graphs are off: {reason}; the step runs eager')
            return False
        self.use_graphs(cuda_graph_capture(lambda: _Trunk(self)))
        return True

    def use_graphs(self, capture) -> ShapeGraphs:
        """Route training steps through :class:`ShapeGraphs` with this
        ``capture`` function (``cuda_graph_capture`` on a GPU)."""
        self._graphs = ShapeGraphs(capture, **self.cuda_graph_options)
        return self._graphs

    def trunk_inputs(self, batch_inputs: Tensor,
                     batch_data_samples: SampleList) -> tuple:
        """The trunk's tensor inputs: the images and, when some image does
        not fill the batch, MMDetection's padding masks (1 on padding) at
        input resolution, built outside the graph from the samples'
        shapes."""
        h, w = batch_data_samples[0].batch_input_shape
        shapes = [s.img_shape for s in batch_data_samples]
        if all(s[0] == h and s[1] == w for s in shapes):
            return (batch_inputs, )
        masks = batch_inputs.new_ones((len(shapes), h, w))
        for i, (img_h, img_w) in enumerate(shapes):
            masks[i, :img_h, :img_w] = 0
        return batch_inputs, masks

    def trunk(self,
              batch_inputs: Tensor,
              masks: Optional[Tensor] = None) -> tuple:
        """``DETR.forward_transformer`` after ``extract_feats``, from
        tensors alone: ``(hidden_states, *ball head levels)``."""
        img_feats, ball_feats = self.extract_feats(batch_inputs)
        feat = img_feats[-1]
        batch_size, feat_dim = feat.shape[:2]
        if masks is None:
            pos_embed = self.positional_encoding(None, input=feat)
        else:  # DETR.pre_transformer's masks, in the feature's dtype
            masks = F.interpolate(
                masks.to(feat.dtype).unsqueeze(1),
                size=feat.shape[-2:]).to(torch.bool).squeeze(1)
            pos_embed = self.positional_encoding(masks)
            masks = masks.view(batch_size, -1)
        feat = feat.view(batch_size, feat_dim, -1).permute(0, 2, 1)
        pos_embed = pos_embed.view(batch_size, feat_dim, -1).permute(0, 2, 1)
        encoder_outputs = self.forward_encoder(
            feat=feat, feat_mask=masks, feat_pos=pos_embed)
        decoder_inputs, _ = self.pre_decoder(**encoder_outputs)
        decoder_outputs = self.forward_decoder(
            memory_mask=masks, memory_pos=pos_embed, **decoder_inputs)
        levels = ball_feats or ()
        if levels and self.ball_head.reads_image:
            levels = levels[1:]  # the input itself is no graph output
        return (decoder_outputs['hidden_states'], ) + tuple(levels)

    def loss_through_graphs(self, batch_inputs: Tensor,
                            batch_data_samples: SampleList) -> dict:
        """``loss`` with the trunk through the graphs (eager for a shape
        not captured): the same losses."""
        args = self.trunk_inputs(batch_inputs, batch_data_samples)
        outputs = self._graphs(graph_key(*args), self.trunk, *args)
        hidden_states, levels = outputs[0], tuple(outputs[1:])
        losses = self.bbox_head.loss(
            hidden_states=hidden_states, batch_data_samples=batch_data_samples)
        if self.with_ball_head:
            if self.ball_head.reads_image:
                levels = (batch_inputs, ) + levels
            losses.update(self.ball_head.loss(levels, batch_data_samples))
        return losses


class _Trunk(nn.Module):
    """``FieldDETR.trunk`` as a module whose parameters are those it uses
    (what ``make_graphed_callables`` captures); the detector is held
    outside the module tree."""

    def __init__(self, detector: FieldDETR) -> None:
        super().__init__()
        for name in ('backbone', 'neck', 'positional_encoding', 'encoder',
                     'decoder', 'query_embedding'):
            if isinstance(getattr(detector, name, None), nn.Module):
                self.add_module(name, getattr(detector, name))
        self.__dict__['detector'] = detector

    def forward(self, *args):
        return self.detector.trunk(*args)
