"""BallHeatmapHead against MMDetection's CenterNetHead, and FieldDETR with
the head against FieldDETR without it."""
import copy

import pytest
import torch
from mmdet.models.dense_heads import CenterNetHead
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.structures import InstanceData

from field_detr.models import BallHeatmapHead
from helpers.models import Lines, built, data_sample, model_cfg
from helpers.runs import DINO_SMALL, MAIN_CONFIG, TINY_CONFIG

register_all_modules()

BALL = 1


def head(**kwargs):
    return BallHeatmapHead(
        in_channels=(8, 16), in_indices=(0, 1), label=BALL, **kwargs)


def ball_boxes(g, n, img_w, img_h, size=(4, 14)):
    """``n`` balls of ``size`` px inside the image, centres apart."""
    d = size[0] + torch.rand(n, generator=g) * (size[1] - size[0])
    cx = 20 + torch.arange(n) * (img_w - 40) / max(n, 1) + torch.rand(
        n, generator=g) * 10
    cy = 10 + torch.rand(n, generator=g) * (img_h - 20)
    return torch.stack([cx - d / 2, cy - d / 2, cx + d / 2, cy + d / 2], 1)


@pytest.mark.parametrize('min_radius', [0, 1])
def test_batched_targets_equal_centernet_head(min_radius):
    """CenterNetHead.get_targets (a Python loop over images and boxes), with
    the other classes' boxes left out: the same heatmap, size, offset,
    weights and average factor. CenterNet's radius has no floor, so
    min_radius=0 is the exact comparison; with min_radius=1 the peaks are
    at least CenterNet's."""
    g = torch.Generator().manual_seed(0)
    img_h, img_w = 192, 320
    feat_shape = (3, 1, img_h // 4, img_w // 4)
    boxes, labels = [], []
    for n in (2, 0, 3):
        players = ball_boxes(g, 2, img_w, img_h, size=(20, 60))
        boxes.append(torch.cat([ball_boxes(g, n, img_w, img_h), players]))
        labels.append(torch.tensor([BALL] * n + [0, 0]))
    ball = head()
    ball.min_radius = min_radius
    ours, avg = ball.get_targets(boxes, labels, feat_shape, (img_h, img_w))
    stock = CenterNetHead(in_channels=8, feat_channels=8, num_classes=1)
    ball_only = [b[lab == BALL] for b, lab in zip(boxes, labels)]
    expected, stock_avg = stock.get_targets(
        ball_only, [torch.zeros(len(b), dtype=torch.long) for b in ball_only],
        feat_shape, (img_h, img_w))
    for key in ('wh_target', 'offset_target', 'wh_offset_target_weight'):
        torch.testing.assert_close(ours[key], expected[key], msg=key)
    assert float(avg) == float(stock_avg) == 5
    heat, stock_heat = ours['center_heatmap_target'], expected[
        'center_heatmap_target']
    if min_radius == 0:
        torch.testing.assert_close(heat, stock_heat)
    else:
        assert (heat >= stock_heat - 1e-6).all()
        assert (heat > stock_heat).any()  # the floor widened a peak
    assert (heat == 1).sum() == 5  # one peak per ball, none per player


def test_targets_decode_to_the_balls():
    """Predictions equal to the targets decode to the ground-truth boxes,
    in original pixels after the rescale."""
    g = torch.Generator().manual_seed(1)
    img_h, img_w = 192, 320
    ball = head()
    boxes = [ball_boxes(g, 1, img_w, img_h), ball_boxes(g, 2, img_w, img_h)]
    labels = [torch.full((len(b), ), BALL) for b in boxes]
    targets, _ = ball.get_targets(boxes, labels,
                                  (2, 1, img_h // 4, img_w // 4),
                                  (img_h, img_w))
    metas = [dict(batch_input_shape=(img_h, img_w), scale_factor=(0.5, 0.5))
             ] * 2
    results = ball.predict_by_feat([targets['center_heatmap_target']],
                                   [targets['wh_target']],
                                   [targets['offset_target']], metas)
    for gt, result in zip(boxes, results):
        assert (result.labels == BALL).all()
        found = result.bboxes[result.scores == 1]
        assert len(found) == len(gt)
        order = found[:, 0].argsort()
        torch.testing.assert_close(
            found[order], gt[gt[:, 0].argsort()] / 0.5, rtol=0, atol=1e-3)


GN = dict(type='GN', num_groups=4)


@pytest.mark.parametrize(
    'changes',
    [dict(),
     dict(image_channels=8),
     dict(image_channels=8, norm_cfg=GN)])
def test_loss_at_the_balls_cells_equals_the_whole_maps(changes):
    """The training loss runs the size and offset branches at the balls'
    centre cells alone: its losses and every parameter's gradient equal
    those of the whole-map branches through loss_by_feat (CenterNetHead's
    form), with two balls in one cell, a ball in a corner cell (the 3x3
    convolution's zero padding), a frame without a ball and one without
    any box."""
    g = torch.Generator().manual_seed(5)
    img_h, img_w = 96, 160
    image = torch.randn(4, 3, img_h, img_w, generator=g)
    feats = [
        torch.randn(4, 8, 24, 40, generator=g),
        torch.randn(4, 16, 12, 20, generator=g)
    ]
    players = ball_boxes(g, 2, img_w, img_h, size=(20, 40))
    same_cell = torch.tensor([[40.2, 40.3, 41.8, 41.9],
                              [40.5, 40.1, 42.9, 42.6]])
    corner = torch.tensor([[0.2, 0.5, 3.4, 3.1]])
    gts = [(torch.cat([same_cell, players]), [BALL, BALL, 0, 0]),
           (torch.cat([players, corner,
                       ball_boxes(g, 1, img_w, img_h)]), [0, 0, BALL, BALL]),
           (players, [0, 0]), (torch.zeros(0, 4), [])]
    samples = [
        data_sample((img_h, img_w), (img_h, img_w), b, lab) for b, lab in gts
    ]
    if changes.get('image_channels'):
        feats = [image] + feats
    torch.manual_seed(0)
    model = head(**changes)
    for branch in (model.wh_head, model.offset_head):  # random regressions
        torch.nn.init.normal_(branch[-1].weight, std=0.1)

    def losses_and_grads(loss):
        model.zero_grad()
        losses = loss()
        sum(losses.values()).backward()
        return losses, {n: p.grad.clone() for n, p in model.named_parameters()}

    metas = [s.metainfo for s in samples]
    gt_instances = [s.gt_instances for s in samples]
    sparse, sparse_grads = losses_and_grads(lambda: model.loss(feats, samples))
    dense, dense_grads = losses_and_grads(lambda: model.loss_by_feat(
        *[[out] for out in model(feats)], gt_instances, metas))
    assert set(sparse) == set(dense)
    assert sparse['loss_ball_wh'] > 0 and sparse['loss_ball_offset'] > 0
    for key in dense:
        torch.testing.assert_close(
            sparse[key], dense[key], rtol=1e-6, atol=1e-7, msg=key)
    for name, grad in dense_grads.items():
        torch.testing.assert_close(
            sparse_grads[name], grad, rtol=1e-5, atol=1e-7, msg=name)
    x = model.fused(feats)
    cells = torch.randint(0, 24 * 40, (4, 6), generator=g)
    cells[0, :2] = torch.tensor([0, 24 * 40 - 1])  # corners
    for branch in (model.heatmap_head, model.wh_head, model.offset_head):
        whole = branch(x).flatten(2)
        torch.testing.assert_close(
            model.branch_at(branch, x, cells),
            whole.gather(2, cells[:, None].expand(-1, whole.shape[1], -1)),
            rtol=1e-5,
            atol=1e-6)


@pytest.mark.parametrize('changes', [dict(), dict(norm_cfg=GN)])
def test_head_learns_a_ball_on_its_own(changes):
    """Fifty steps on one feature map: the heatmap peak moves onto the
    ball (the loss and its gradients are wired)."""
    torch.manual_seed(0)
    ball = head(**changes)
    feats = (torch.randn(1, 8, 24, 40), torch.randn(1, 16, 12, 20))
    sample = DetDataSample(
        metainfo=dict(
            batch_input_shape=(96, 160),
            img_shape=(96, 160),
            scale_factor=(1, 1)))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[100., 40., 108., 48.]]),
        labels=torch.tensor([BALL]))
    opt = torch.optim.Adam(ball.parameters(), lr=1e-2)
    first = None
    for _ in range(50):
        losses = ball.loss(feats, [sample])
        loss = sum(losses.values())
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first
    with torch.no_grad():
        result = ball.predict(feats, [sample])[0]
    best = result.bboxes[result.scores.argmax()]
    centre = (best[:2] + best[2:]) / 2
    assert torch.dist(centre, torch.tensor([104., 44.])) <= 2


def test_a_norm_goes_after_each_3x3_convolution_of_stem_and_fused_map():
    """``norm_cfg`` puts its layer between each 3x3 convolution (then
    without a bias) and its ReLU; without it the parameters keep the
    names the checkpoints of the configs without a norm hold."""
    plain = head(image_channels=8).state_dict()
    assert {k
            for k in plain if k.startswith(('image_stem', 'fuse_conv'))} == {
                f'{m}.{i}.{p}'
                for m, idx in (('image_stem', (0, 2, 4)), ('fuse_conv', (0, )))
                for i in idx
                for p in ('weight', 'bias')
            }
    normed = head(image_channels=8, norm_cfg=GN)
    layers = [type(m).__name__ for m in normed.image_stem
              ] + [type(m).__name__ for m in normed.fuse_conv]
    assert layers == [
        'Conv2d', 'GroupNorm', 'ReLU', 'Conv2d', 'GroupNorm', 'ReLU', 'Conv2d',
        'Conv2d', 'GroupNorm', 'ReLU'
    ]
    assert normed.image_stem[0].bias is None
    assert normed.fuse_conv[0].bias is None
    assert normed.image_stem[6].bias is not None  # the 1x1 to the map


def samples_batch(seed, n=2, size=(96, 128)):
    g = torch.Generator().manual_seed(seed)
    h, w = size
    inputs = torch.randn(n, 3, h, w, generator=g)
    samples = []
    for _ in range(n):
        players = ball_boxes(g, 2, w, h, size=(20, 40))
        samples.append(
            data_sample((h, w), (h, w),
                        torch.cat([players, ball_boxes(g, 1, w, h)]),
                        [0, 0, BALL]))
    return inputs, samples


# the two detector families that carry the head (one wiring: ball_detector.py)
FAMILIES = pytest.mark.parametrize(
    'config', [TINY_CONFIG, DINO_SMALL], ids=['detr', 'dino'])


@FAMILIES
def test_one_config_line_turns_the_head_off(config):
    """model.ball_head=None builds the model of the config without the
    head: the same modules, parameter names, initial weights and
    backbone levels."""
    cfg = Config.fromfile(config)
    assert cfg.model.ball_head.type == 'BallHeatmapHead'
    without = model_cfg(config)
    without.pop('ball_head')
    torch.manual_seed(0)
    a = built(without)
    torch.manual_seed(0)
    b = built(model_cfg(config, ball_head=None))
    assert b.ball_head is None and not b.with_ball_head
    assert b.backbone.out_indices == a.backbone.out_indices == tuple(
        cfg.model.backbone.out_indices)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@FAMILIES
def test_the_head_leaves_the_detrs_initial_weights_alone(config):
    """The same seed gives the same initial detector with and without the
    head, built and initialised, and the same random state after it."""
    models, after = [], []
    for head in (True, False):
        cfg = model_cfg(config) if head else model_cfg(config, ball_head=None)
        torch.manual_seed(0)
        models.append(built(cfg).state_dict())
        after.append(torch.rand(3))
    on, off = models
    assert set(on) - set(off) and all(
        k.startswith('ball_head.') for k in set(on) - set(off))
    for key, value in off.items():
        assert torch.equal(on[key], value), key
    assert torch.equal(*after)


@pytest.mark.parametrize(
    'config', [TINY_CONFIG, MAIN_CONFIG, DINO_SMALL],
    ids=['detr', 'detr_r50', 'dino'])
def test_detr_with_the_head_is_the_detr_without_it(config):
    """The same weights with and without the head: the detector's (DETR's,
    DINO's) losses, outputs and player detections are identical; the head
    adds its three losses and the ball detections, and the detector's ball
    rows are gone."""
    torch.manual_seed(0)
    on = built(model_cfg(config))
    off = MODELS.build(model_cfg(config, ball_head=None))
    state = {
        k: v
        for k, v in on.state_dict().items() if not k.startswith('ball_head.')
    }
    off.load_state_dict(state, strict=True)
    inputs, samples = samples_batch(0)
    with torch.no_grad():
        # in training mode (DINO's losses need it), the same dropout and
        # denoising draws
        torch.manual_seed(1)
        loss_on = on.train()(inputs, copy.deepcopy(samples), mode='loss')
        torch.manual_seed(1)
        loss_off = off.train()(inputs, copy.deepcopy(samples), mode='loss')
        on.eval(), off.eval()
        assert set(loss_on) - set(loss_off) == {
            'loss_ball_heatmap', 'loss_ball_wh', 'loss_ball_offset'
        }
        for key in loss_off:
            assert torch.isfinite(loss_off[key]).all(), key
            assert torch.equal(loss_on[key], loss_off[key]), key
        out_on = on(inputs, copy.deepcopy(samples), mode='tensor')
        out_off = off(inputs, copy.deepcopy(samples), mode='tensor')
        assert len(out_on) == len(out_off) + 3
        for a, b in zip(out_on, out_off):
            assert torch.equal(a, b)
        pred_on = on.predict(inputs, copy.deepcopy(samples))
        pred_off = off.predict(inputs, copy.deepcopy(samples))
    topk = on.ball_head.test_cfg.topk
    for a, b in zip(pred_on, pred_off):
        a, b = a.pred_instances, b.pred_instances
        players_b = b.labels != BALL
        assert (a.labels == BALL).sum() == topk
        assert torch.equal(a.bboxes[a.labels != BALL], b.bboxes[players_b])
        assert torch.equal(a.scores[a.labels != BALL], b.scores[players_b])


@FAMILIES
def test_checkpoint_without_the_head_loads_with_one_line(config):
    """A state dict of the model without the head (no ball_head keys)
    loads strictly into the model with the head; the head keeps its
    initial weights and one line says so."""
    from mmengine.logging import MMLogger
    torch.manual_seed(0)
    old = built(model_cfg(config, ball_head=None)).state_dict()
    torch.manual_seed(1)
    new = MODELS.build(model_cfg(config))
    initial = copy.deepcopy(new.ball_head.state_dict())
    logger = MMLogger.get_instance('ball_head_test')  # the current logger
    handler = Lines()
    logger.addHandler(handler)
    new.load_state_dict(old, strict=True)
    logger.removeHandler(handler)
    for key, value in new.state_dict().items():
        if key.startswith('ball_head.'):
            assert torch.equal(value, initial[key[len('ball_head.'):]])
        else:
            assert torch.equal(value, old[key]), key
    lines = [m for m in handler.lines if 'ball head' in m]
    assert len(lines) == 1 and 'ball_head starts from its initial' in lines[0]


@FAMILIES
def test_detached_head_leaves_the_detr_gradients_alone(config):
    """backbone_grad=0: every parameter of the detector gets the gradient
    it gets without the head, also when the head has its own stem on the
    image (which learns); backbone_grad=1: the head's loss reaches the
    backbone's stride-8 stage."""
    grads = {}
    for name, head_cfg in (('off', None), ('detached', dict(backbone_grad=0.)),
                           ('stem', dict(backbone_grad=0., image_channels=8)),
                           ('joint', dict(backbone_grad=1.))):
        cfg = model_cfg(config)
        if head_cfg is None:
            cfg.ball_head = None
        else:
            cfg.ball_head.update(head_cfg)
        torch.manual_seed(0)
        model = built(cfg).train()
        inputs, samples = samples_batch(3)
        torch.manual_seed(1)  # the same dropout and denoising draws
        losses = model(inputs, samples, mode='loss')
        sum(losses.values()).backward()
        grads[name] = {
            n: p.grad.clone()
            for n, p in model.named_parameters()
            if p.grad is not None and not n.startswith('ball_head.')
        }
        if name == 'stem':
            assert model.ball_head.image_stem[0].weight.grad.abs().sum() > 0
    for detached in ('detached', 'stem'):
        assert grads[detached].keys() == grads['off'].keys()
        for n, g in grads['off'].items():
            torch.testing.assert_close(grads[detached][n], g, msg=n)
    stage = 'backbone.layer2.0.downsample.0.weight'
    assert not torch.allclose(grads['joint'][stage], grads['off'][stage])


@pytest.mark.parametrize('separately', [True, False])
def test_the_heads_own_clip_leaves_the_detrs_step_alone(separately):
    """A step of the configs' optimiser wrapper (gradient norm clipped to
    0.1) from the same initial DETR: with the head clipped on its own
    norm, the optimiser gets every DETR gradient it gets without the head;
    clipped together, the head's gradients shrink the DETR's."""
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(TINY_CONFIG)
    wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
    wrapper_cfg.type = 'FieldOptimWrapper'
    for key in ('dtype', 'loss_scale'):
        wrapper_cfg.pop(key, None)
    if not separately:
        wrapper_cfg.pop('clip_separately')
    grads = {}
    for head in (True, False):
        torch.manual_seed(0)
        model = MODELS.build(
            model_cfg(TINY_CONFIG) if head else model_cfg(
                TINY_CONFIG, ball_head=None)).train()
        wrapper = build_optim_wrapper(model, copy.deepcopy(wrapper_cfg))
        seen = grads[head] = {}

        def keep(optimizer, args, kwargs, model=model, seen=seen):
            seen.update((n, p.grad.clone())
                        for n, p in model.named_parameters()
                        if p.grad is not None)

        wrapper.optimizer.register_step_pre_hook(keep)
        torch.manual_seed(1)  # the same dropout draws
        losses = model(*samples_batch(3), mode='loss')
        wrapper.update_params(sum(losses.values()))
    detr = grads[False]
    assert detr and all(n in grads[True] for n in detr)
    assert any(n.startswith('ball_head.') for n in grads[True])
    ratio = torch.stack([
        grads[True][n].norm() / g.norm() for n, g in detr.items()
        if g.norm() > 0
    ])
    if separately:
        expected = 1.0
    else:  # clipped with the head: the DETR's share of the joint norm
        detr_norm = torch.stack([g.norm() for g in detr.values()]).norm()
        head_norm = torch.stack([
            g.norm() for n, g in grads[True].items()
            if n.startswith('ball_head.')
        ]).norm()
        expected = (detr_norm / torch.hypot(detr_norm, head_norm)).item()
        assert expected < 1 - 1e-5
    torch.testing.assert_close(
        ratio, torch.full_like(ratio, expected), rtol=0, atol=1e-6)
