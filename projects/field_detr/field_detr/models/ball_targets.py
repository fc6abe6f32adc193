"""The ball head's training targets for a whole batch, built with tensor
operations: CenterNet's Gaussian peaks (``gen_gaussian_target``, its
``gaussian_radius``) and the size and offset at each ball's centre cell,
with no host read per image or box (``CenterNetHead.get_targets`` loops
over images and boxes in Python and reads each centre and radius back).
``tests/models/test_ball_head.py`` checks them against ``CenterNetHead``'s.
"""
from typing import Sequence, Tuple

import torch
from torch import Tensor


def gaussian_radius(height: Tensor, width: Tensor,
                    min_overlap: float) -> Tensor:
    """CenterNet's ``gaussian_radius`` (``mmdet.models.utils``) on tensors
    of box heights and widths: the largest radius a corner may move by
    while the box keeps IoU ``min_overlap`` with the true one."""
    a1 = 1
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 - torch.sqrt(b1**2 - 4 * a1 * c1)) / (2 * a1)
    a2 = 4
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 - torch.sqrt(b2**2 - 4 * a2 * c2)) / (2 * a2)
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + torch.sqrt(b3**2 - 4 * a3 * c3)) / (2 * a3)
    return torch.minimum(torch.minimum(r1, r2), r3)


def heatmap_targets(boxes: Tensor, ball: Tensor, feat_shape: Sequence[int],
                    img_shape: Sequence[int], min_overlap: float,
                    min_radius: int) -> Tuple[dict, Tensor]:
    """Targets of a batch's ``boxes`` (B, M, 4, float, padded) on a heatmap
    of ``feat_shape`` (B, 1, H, W) over images of ``img_shape``: the boxes
    where ``ball`` (B, M) is set get a peak, the others weigh 0. Returns
    the targets (``BallHeatmapHead.get_targets``) and, per image and cell,
    the balls centred there (B, 2, H * W)."""
    bs, _, feat_h, feat_w = feat_shape
    img_h, img_w = img_shape[:2]
    device = boxes.device
    ball = ball.float()
    # centres and sizes in heatmap cells; x and y apart, so that only
    # Python scalars meet the device tensors (no host-to-device copy)
    ratio_x, ratio_y = feat_w / img_w, feat_h / img_h
    cx = (boxes[..., 0] + boxes[..., 2]) / 2 * ratio_x  # (B, M)
    cy = (boxes[..., 1] + boxes[..., 3]) / 2 * ratio_y
    w = (boxes[..., 2] - boxes[..., 0]) * ratio_x
    h = (boxes[..., 3] - boxes[..., 1]) * ratio_y
    cell_x = cx.floor().clamp(0, feat_w - 1)
    cell_y = cy.floor().clamp(0, feat_h - 1)
    radius = gaussian_radius(h, w, min_overlap).floor().clamp(min=min_radius)
    sigma = (2 * radius + 1) / 6  # gen_gaussian_target's

    # gen_gaussian_target: a Gaussian around the centre cell, cut to
    # the (2r+1)^2 window, the maximum where peaks overlap; built as the
    # product of its row and column profiles (B, M, H) x (B, M, W).
    # Its cut below eps * the peak never bites inside the window: with
    # sigma = (2r+1)/6 the corner keeps exp(-36r^2/(2r+1)^2) > exp(-9)
    def profile(size, cell):
        d = torch.arange(
            size, device=device, dtype=boxes.dtype) - cell[..., None]
        return torch.exp(-d**2 / (2 * sigma[..., None]**2)) * (
            d.abs() <= radius[..., None])

    gauss = (profile(feat_h, cell_y) * ball[..., None])[..., None] * \
        profile(feat_w, cell_x)[..., None, :]
    heatmap = gauss.amax(dim=1, keepdim=True)  # (B, 1, H, W)

    # size and offset at each ball's centre cell (a mean where two balls
    # share one)
    index = (cell_y * feat_w + cell_x).long()  # (B, M)
    index = index[:, None].expand(-1, 2, -1)
    weight = ball[:, None].expand(-1, 2, -1)
    values = dict(
        wh=torch.stack([w, h], dim=1),
        offset=torch.stack([cx - cell_x, cy - cell_y], dim=1))
    count = boxes.new_zeros(
        (bs, 2, feat_h * feat_w)).scatter_add_(2, index, weight)
    out = dict(center_heatmap_target=heatmap)
    for name, value in values.items():
        total = boxes.new_zeros(
            (bs, 2, feat_h * feat_w)).scatter_add_(2, index, value * weight)
        out[f'{name}_target'] = (total / count.clamp(min=1)).view(
            bs, 2, feat_h, feat_w)
    out['wh_offset_target_weight'] = count.clamp(max=1).view(
        bs, 2, feat_h, feat_w)
    # each box's centre cell (B, M) and, for a ball, its share of the
    # cell (1 / the balls there; 0 for other boxes): the size and offset
    # losses read at the cells (loss)
    out['ball_cells'] = index[:, 0]
    out['ball_cell_share'] = ball / count[:, 0].gather(
        1, index[:, 0]).clamp(min=1)
    return out, count
