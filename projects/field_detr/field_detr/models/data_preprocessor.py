"""MMDetection's ``DetDataPreprocessor`` without a host copy per image, and
optionally padding each batch to one of a few fixed canvases.

MMEngine's preprocessor turns BGR into RGB with ``image[[2, 1, 0], ...]``
for every image: the index list is copied from the host to the device, a
blocking copy (a CUDA synchronisation) per image. Reversing the channel
axis (``flip``) gives the same tensor without it.

The multi-scale pipeline resizes every image to its own scale and the stock
preprocessor pads a batch to its largest image, so batches come in many
shapes; a CUDA graph, a compiled graph and ``cudnn.benchmark`` are each made
per shape. With ``canvases``, a batch is padded on the right and bottom
(as before, with ``pad_value``) up to the smallest listed canvas that holds
it: the images, their scales and their boxes are unchanged, and the DETR
masks the padding (``batch_input_shape`` is the canvas, ``img_shape`` each
image's own size).
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.registry import MODELS


def choose_canvas(height: int,
                  width: int,
                  canvases: Sequence[Sequence[int]],
                  divisor: int = 1) -> Tuple[int, int]:
    """The smallest canvas ``(h, w)`` of ``canvases`` (by area, then the
    listed order) that holds ``height`` x ``width``; a batch larger than
    every canvas gets its own size, each side rounded up to ``divisor``."""
    fits = [(h * w, i) for i, (h, w) in enumerate(canvases)
            if h >= height and w >= width]
    if fits:
        h, w = canvases[min(fits)[1]]
        return int(h), int(w)
    return (-(-height // divisor) * divisor, -(-width // divisor) * divisor)


@MODELS.register_module()
class FieldDetDataPreprocessor(DetDataPreprocessor):
    """``DetDataPreprocessor`` (same arguments, the same output) that flips
    BGR to RGB without a host-to-device copy and, with ``canvases``, pads
    each batch up to the smallest canvas holding it.

    Args:
        canvases (Sequence[Sequence[int]], optional): canvas sizes as
            ``(height, width)`` pairs. A batch larger than all of them is
            padded as ``DetDataPreprocessor`` pads it (``pad_size_divisor``)
            and counted in ``outside_canvases``. None (the default) pads as
            ``DetDataPreprocessor``.
        **kwargs: ``DetDataPreprocessor``'s arguments.
    """

    def __init__(self,
                 *args,
                 canvases: Optional[Sequence[Sequence[int]]] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        canvases = [tuple(int(s) for s in c) for c in canvases or ()]
        bad = [c for c in canvases if len(c) != 2 or min(c) <= 0]
        if bad:
            raise ValueError(f'FieldDetDataPreprocessor: canvases are '
                             f'(height, width) pairs of positive sizes, '
                             f'not {bad[0]}')
        self.canvases: List[Tuple[int, int]] = canvases
        #: batches larger than every canvas (padded to their own size)
        self.outside_canvases = 0
        # the channels are flipped in cast_data, not by the parent's loop
        self._flip_channels = self._channel_conversion
        self._channel_conversion = False

    def cast_data(self, data):
        data = super().cast_data(data)
        if self._flip_channels and isinstance(data, dict) \
                and 'inputs' in data:
            inputs = data['inputs']
            data['inputs'] = (
                inputs.flip(1) if torch.is_tensor(inputs) else
                [image.flip(0) for image in inputs])
        return data

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data=data, training=training)
        if not self.canvases:
            return data
        inputs, data_samples = data['inputs'], data['data_samples']
        height, width = inputs.shape[-2:]
        canvas = choose_canvas(height, width, self.canvases,
                               self.pad_size_divisor)
        if canvas not in self.canvases:
            self.outside_canvases += 1
        if canvas != (height, width):
            inputs = F.pad(
                inputs, (0, canvas[1] - width, 0, canvas[0] - height),
                value=self.pad_value)
            for sample in data_samples or ():
                sample.set_metainfo({'batch_input_shape': canvas})
        return {'inputs': inputs, 'data_samples': data_samples}
