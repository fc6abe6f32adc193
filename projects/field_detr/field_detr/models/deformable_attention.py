"""mmcv's multi-scale deformable attention with a faster path off CUDA.

On CUDA tensors mmcv runs its kernel. Anywhere else (the CPU of every
offline user, the demo, the tests) it runs
``multi_scale_deformable_attn_pytorch``: ``grid_sample`` per level into
``(bs * heads, head_dims, queries, points)``, then all levels stacked and
multiplied by the attention weights broadcast over ``head_dims``, an
elementwise product with an inner dimension of 16 whose forward and
backward took a third of the small DINO's CPU step. Here each level's
samples are laid out points before queries (``(..., points, queries)``:
the product runs along the queries) and summed into the output as they
come, with no stack. Same module, parameters and outputs to float rounding
(the sum over levels and points is taken in another order; tested against
mmcv's function and DINO).
"""
import torch
import torch.nn.functional as F
from mmcv.ops import MultiScaleDeformableAttention
from torch import Tensor, nn

from .detr import switch_modules


def deformable_attention_per_level(value: Tensor, spatial_shapes: Tensor,
                                   sampling_locations: Tensor,
                                   attention_weights: Tensor) -> Tensor:
    """``multi_scale_deformable_attn_pytorch``'s result (same arguments:
    value (bs, keys, heads, head_dims), spatial_shapes (levels, 2) as
    (h, w), sampling_locations (bs, queries, heads, levels, points, 2) in
    [0, 1], attention_weights (bs, queries, heads, levels, points)), as
    (bs, queries, heads * head_dims), one level at a time."""
    bs, _, heads, head_dims = value.shape
    _, queries, _, levels, points, _ = sampling_locations.shape
    values = value.split([int(h) * int(w) for h, w in spatial_shapes], dim=1)
    # (bs, queries, heads, levels, points, .) -> (bs * heads, levels,
    # points, queries, .): grid_sample then gives (..., points, queries)
    grids = (2 * sampling_locations - 1).permute(0, 2, 3, 4, 1, 5).reshape(
        bs * heads, levels, points, queries, 2)
    weights = attention_weights.permute(0, 2, 3, 4,
                                        1).reshape(bs * heads, 1, levels,
                                                   points, queries)
    output = None
    for level, (h, w) in enumerate(spatial_shapes):
        level_value = values[level].flatten(2).transpose(1, 2).reshape(
            bs * heads, head_dims, int(h), int(w))
        sampled = F.grid_sample(
            level_value,
            grids[:, level],
            mode='bilinear',
            padding_mode='zeros',
            align_corners=False)
        term = (sampled * weights[:, :, level]).sum(2)
        output = term if output is None else output + term
    return output.view(bs, heads * head_dims,
                       queries).transpose(1, 2).contiguous()


class PerLevelDeformableAttention(MultiScaleDeformableAttention):
    """``MultiScaleDeformableAttention`` (same arguments and parameters)
    that computes on the CPU with :func:`deformable_attention_per_level`;
    on any other device it is mmcv's module (on CUDA its kernel)."""

    def forward(self,
                query: Tensor,
                key=None,
                value=None,
                identity=None,
                query_pos=None,
                key_padding_mask=None,
                reference_points=None,
                spatial_shapes=None,
                level_start_index=None,
                **kwargs) -> Tensor:
        if query.device.type != 'cpu':
            return super().forward(query, key, value, identity, query_pos,
                                   key_padding_mask, reference_points,
                                   spatial_shapes, level_start_index, **kwargs)
        # mmcv's forward up to its call of the pure-PyTorch function
        value = query if value is None else value
        identity = query if identity is None else identity
        if query_pos is not None:
            query = query + query_pos
        if not self.batch_first:
            query, value = query.permute(1, 0, 2), value.permute(1, 0, 2)
        bs, num_query, _ = query.shape
        num_value = value.shape[1]
        value = self.value_proj(value)
        if key_padding_mask is not None:
            value = value.masked_fill(key_padding_mask[..., None], 0.0)
        value = value.view(bs, num_value, self.num_heads, -1)
        offsets = self.sampling_offsets(query).view(bs, num_query,
                                                    self.num_heads,
                                                    self.num_levels,
                                                    self.num_points, 2)
        weights = self.attention_weights(query).view(
            bs, num_query, self.num_heads,
            self.num_levels * self.num_points).softmax(-1).view(
                bs, num_query, self.num_heads, self.num_levels,
                self.num_points)
        if reference_points.shape[-1] == 2:
            normalizer = torch.stack(
                [spatial_shapes[..., 1], spatial_shapes[..., 0]], -1)
            locations = reference_points[:, :, None, :, None, :] + \
                offsets / normalizer[None, None, None, :, None, :]
        elif reference_points.shape[-1] == 4:
            locations = reference_points[:, :, None, :, None, :2] + \
                offsets / self.num_points * \
                reference_points[:, :, None, :, None, 2:] * 0.5
        else:
            raise ValueError(f'Last dim of reference_points must be 2 or 4, '
                             f'but get {reference_points.shape[-1]} instead.')
        output = self.output_proj(
            deformable_attention_per_level(value, spatial_shapes, locations,
                                           weights))
        if not self.batch_first:
            output = output.permute(1, 0, 2)
        return self.dropout(output) + identity


def use_per_level_deformable_attention(module: nn.Module) -> int:
    """Switch every plain ``MultiScaleDeformableAttention`` inside
    ``module`` to :class:`PerLevelDeformableAttention` (same parameters);
    returns how many."""
    return switch_modules(module, MultiScaleDeformableAttention,
                          PerLevelDeformableAttention)
