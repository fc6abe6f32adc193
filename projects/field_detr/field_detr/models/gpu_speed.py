"""The GPU-only speed switches of ``FieldDETR``, in one argument:
``model.gpu = dict(...)`` (all off by default; docs/performance.md says
which were measured where, and with what result).

* ``cuda_graphs`` (bool): in training on a GPU, run backbone, neck,
  encoder and decoder (forward and backward) as one CUDA graph per input
  shape (``cuda_graphs.py``); the heads' outputs, losses and matching stay
  eager. Off on a CPU, under a distributed launcher and with
  ``compile_modules`` (one log line).
* ``cuda_graph_options`` (dict): ``ShapeGraphs``'s ``capture_after``
  (default 2) and ``max_graphs`` (default 8).
* ``canvases`` (list of (h, w)): every batch padded to the smallest of a
  few fixed shapes (``FieldDetDataPreprocessor(canvases=...)``), so a graph
  or a compiled kernel serves many batches
  (``tools/analysis_tools/canvas_stats.py``).
* ``channels_last`` (bool): the backbone in channels-last memory format.
* ``compile_modules`` (list of str): submodules to ``torch.compile`` in
  place (their state dict unchanged) the first time the model runs on a
  GPU, e.g. ``['backbone']``; never the head's loss, whose Hungarian
  matching runs on the host.
* ``compile_options`` (dict): ``torch.compile``'s keyword arguments;
  default ``dict(dynamic=True)``, one graph for every input size.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmdet.structures import SampleList
from mmengine.logging import MMLogger
from torch import Tensor, nn

from .cuda_graphs import ShapeGraphs, cuda_graph_capture, graph_key

#: the switches ``gpu`` takes, and their defaults
GPU_SWITCHES = dict(
    cuda_graphs=False,
    cuda_graph_options=None,
    canvases=None,
    channels_last=False,
    compile_modules=(),
    compile_options=None)


class GPUSpeedMixin:
    """``gpu=dict(...)`` (module docstring) for MMDetection's DETR; the
    model's layers, parameters and outputs are the same with any switch."""

    def __init__(self, *args, gpu: Optional[dict] = None, **kwargs) -> None:
        unknown = sorted(set(gpu or {}) - set(GPU_SWITCHES))
        if unknown:
            raise ValueError(f'model.gpu: no switch {unknown[0]!r} (the '
                             f'switches: {", ".join(GPU_SWITCHES)})')
        gpu = dict(GPU_SWITCHES, **(gpu or {}))
        if gpu['canvases']:
            kwargs['data_preprocessor'] = dict(
                kwargs.get('data_preprocessor') or {},
                canvases=gpu['canvases'])
        super().__init__(*args, **kwargs)
        self.channels_last = gpu['channels_last']
        if self.channels_last:
            self.backbone.to(memory_format=torch.channels_last)
        for name in gpu['compile_modules']:
            if not isinstance(getattr(self, name, None), nn.Module):
                raise ValueError(f'model.gpu.compile_modules: the model has '
                                 f'no submodule {name!r}')
        self.compile_modules = tuple(gpu['compile_modules'])
        self.compile_options = dict(gpu['compile_options']
                                    or dict(dynamic=True))
        self._compiled = False
        self.cuda_graphs = gpu['cuda_graphs']
        self.cuda_graph_options = dict(gpu['cuda_graph_options'] or {})
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
    """``GPUSpeedMixin.trunk`` as a module whose parameters are those it uses
    (what ``make_graphed_callables`` captures); the detector is held
    outside the module tree."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        for name in ('backbone', 'neck', 'positional_encoding', 'encoder',
                     'decoder', 'query_embedding'):
            if isinstance(getattr(detector, name, None), nn.Module):
                self.add_module(name, getattr(detector, name))
        self.__dict__['detector'] = detector

    def forward(self, *args):
        return self.detector.trunk(*args)
