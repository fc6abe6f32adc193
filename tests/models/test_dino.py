"""The DINO-4scale family: its configs against MMDetection's, the COCO
start into every class-row tensor, and the small DINO through the tools
(train, test, export, LocalDetector, MLflow model loading)."""
import glob
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules

import field_detr  # noqa: F401  (registers the project's modules)
from helpers.models import (assert_detects_as_checkpoint, assert_same_step,
                            built, data_sample, model_cfg)
from helpers.runs import DINO_SMALL, ROOT, TOOL_ENV, ckpt, run_tool, train

register_all_modules()

DINO_CONFIG = osp.join(ROOT, 'configs', 'dino_r50_field.py')
DINO_DEMO_CONFIG = osp.join(ROOT, 'configs', 'dino_r50_field_demo.py')
FULLRES_BALL = osp.join(ROOT, 'configs', 'dino_small_field_fullres_ball.py')


def test_coco_start_gives_player_and_ball_the_person_and_ball_rows(tmp_path):
    """A test-made 80-class small DINO checkpoint into the 2-class model:
    every classification branch (decoder layers and the encoder's proposal
    branch) scores player and ball as the 80-class model scores person and
    sports ball, the denoising label embedding takes the same rows, and
    every other tensor is copied."""
    from mmdet.datasets import CocoDataset

    from field_detr.hooks.coco_transplant_hook import transplant_coco_head
    torch.manual_seed(0)
    coco = built(
        model_cfg(
            DINO_SMALL,
            ball_head=None,
            bbox_head=dict(type='DINOHead', num_classes=80)))
    path = str(tmp_path / 'coco_dino.pth')
    torch.save({'state_dict': coco.state_dict(), 'meta': {}}, path)
    torch.manual_seed(1)
    field = MODELS.build(model_cfg(DINO_SMALL))
    n, new = transplant_coco_head(field, path, ['player', 'ball'], {
        'player': 'person',
        'ball': 'sports ball'
    })
    # the ball head is new to the COCO model: it keeps its initialisation
    initial_head = {
        k: v.clone()
        for k, v in field.ball_head.state_dict().items()
    }
    assert new and all(k.startswith('ball_head.') for k in new)
    assert sorted(new) == sorted(f'ball_head.{k}' for k in initial_head)
    assert n == len(field.state_dict()) - len(new)
    for key, value in field.ball_head.state_dict().items():
        assert torch.equal(value, initial_head[key]), key
    rows = [
        list(CocoDataset.METAINFO['classes']).index(c)
        for c in ('person', 'sports ball')
    ]
    branches = field.bbox_head.cls_branches
    assert len(branches) == 3  # 2 decoder layers + the proposal branch
    hidden = torch.randn(5, 256)
    with torch.no_grad():
        for ours, theirs in zip(branches, coco.bbox_head.cls_branches):
            assert torch.equal(ours.weight, theirs.weight[rows])
            assert torch.equal(ours.bias, theirs.bias[rows])
            # the same rows in a product of another width: equal to float
            # rounding
            torch.testing.assert_close(
                ours(hidden), theirs(hidden)[:, rows], rtol=0, atol=1e-5)
    assert torch.equal(field.dn_query_generator.label_embedding.weight,
                       coco.dn_query_generator.label_embedding.weight[rows])
    theirs = coco.state_dict()
    for key, value in field.state_dict().items():
        if 'cls_branches' not in key and 'label_embedding' not in key \
                and not key.startswith('ball_head.'):
            assert torch.equal(value, theirs[key]), key


@pytest.fixture(scope='module')
def dino_run(demo_data, tmp_path_factory):
    """One epoch of the small DINO through tools/train.py, validated."""
    work_dir = str(tmp_path_factory.mktemp('dino_run'))
    proc = train(
        work_dir,
        config=DINO_SMALL,
        data=demo_data,
        options=['train_cfg.max_epochs=1', 'train_cfg.val_interval=1'])
    return dict(work_dir=work_dir, proc=proc, data=demo_data)


def test_small_dino_trains_with_the_projects_layout(dino_run):
    log = dino_run['proc'].stdout + dino_run['proc'].stderr
    assert 'Epoch(val) [1]' in log, log[-3000:]
    meta = torch.load(
        ckpt(dino_run['work_dir'], 'latest_checkpoint.pth'),
        weights_only=True)['meta']
    assert meta['epoch'] == 1
    assert osp.exists(ckpt(dino_run['work_dir'], 'best_model.pth'))


def test_small_dino_through_test_export_and_local_detector(dino_run, tmp_path):
    """tools/test.py prints the per-class table; the exported model loads
    in LocalDetector and gives the checkpoint's detections; its ONNX graph
    gives PyTorch's sigmoid scores and boxes."""
    from field_detr import LocalDetector
    source = ckpt(dino_run['work_dir'], 'latest_checkpoint.pth')
    proc = run_tool('test.py', DINO_SMALL, source, '--test-dir',
                    dino_run['data']['val'], '--work-dir',
                    str(tmp_path / 'test'))
    assert 'COCO box AP' in proc.stdout and 'ball' in proc.stdout
    exported = str(tmp_path / 'dino.pth')
    onnx = str(tmp_path / 'dino.onnx')
    proc = run_tool('export_model.py', '--checkpoint', source, '--output',
                    exported, '--onnx', onnx, '--onnx-size', '320x192')
    assert torch.load(
        exported, weights_only=True)['model']['type'] == 'FieldDINO'
    line = [s for s in proc.stdout.splitlines() if 'ONNX' in s][0]
    assert float(line.rsplit('difference ', 1)[1].split()[0]) < 1e-4, line
    import onnxruntime as ort
    outputs = ort.InferenceSession(
        onnx, providers=['CPUExecutionProvider']).get_outputs()
    assert [(o.name, o.shape) for o in outputs] == [('scores', [1, 50, 2]),
                                                    ('boxes', [1, 50, 4]),
                                                    ('ball_scores', [1, 10]),
                                                    ('ball_boxes', [1, 10, 4])]
    image = sorted(
        glob.glob(osp.join(dino_run['data']['val'], 'images', '*.jpg')))[0]
    from_export = LocalDetector(exported, 0.0, 'cpu').detect(image)
    from_checkpoint = LocalDetector(source, 0.0, 'cpu').detect(image)
    assert len(from_export) > 0
    assert torch.allclose(
        torch.from_numpy(from_export.scores),
        torch.from_numpy(from_checkpoint.scores),
        atol=1e-5)


def test_small_dinos_mlflow_model_detects_like_its_checkpoint(dino_run):
    """The model the run logged to MLflow (the run named in the
    checkpoint's meta) loads with mlflow.pytorch.load_model as a FieldDINO
    and gives the best checkpoint's detections."""
    import mlflow
    best = ckpt(dino_run['work_dir'], 'best_model.pth')
    run_id = torch.load(best, weights_only=True)['meta']['mlflow_run_id']
    mlflow.set_tracking_uri(TOOL_ENV['MLFLOW_TRACKING_URI'])
    model = mlflow.pytorch.load_model(f'runs:/{run_id}/model')
    assert type(model).__name__ == 'FieldDINO'
    image = sorted(
        glob.glob(osp.join(dino_run['data']['val'], 'images', '*.jpg')))[0]
    assert_detects_as_checkpoint(model, best, image)


def dino_batch(seed, counts, size=(128, 160)):
    """Inputs and samples of images of different sizes padded to ``size``,
    with ``counts`` random boxes (a duplicate where 3 or more)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    h, w = size
    samples = []
    for count in counts:
        ih, iw = int(rng.integers(h // 2,
                                  h + 1)), int(rng.integers(w // 2, w + 1))
        x1, y1 = rng.uniform(0, iw - 8, count), rng.uniform(0, ih - 8, count)
        boxes = np.stack([
            x1, y1, x1 + rng.uniform(2, iw - x1), y1 + rng.uniform(2, ih - y1)
        ], 1)
        labels = rng.integers(0, 2, count)
        if count >= 3:
            boxes[1], labels[1] = boxes[0], labels[0]
        sample = data_sample((ih, iw), (h, w), boxes, labels)
        samples.append(sample)
    g = torch.Generator().manual_seed(seed)
    return torch.randn(len(counts), 3, h, w, generator=g), samples


def losses_and_grads(model, inputs, samples, seed):
    import copy
    model.zero_grad()
    torch.manual_seed(seed)  # the same denoising noise
    losses = model.loss(inputs, copy.deepcopy(samples))
    sum(losses.values()).backward()
    return losses, {
        n: p.grad.clone()
        for n, p in model.named_parameters() if p.grad is not None
    }


@pytest.mark.parametrize('autocast', [False, True], ids=['fp32', 'bf16'])
def test_fast_dino_head_equals_dinohead_over_many_seeds(autocast):
    """The small DINO with FastDINOHead and with MMDetection's DINOHead,
    one set of weights, the same batches and denoising noise: the same
    loss terms, in the same order, and the same gradients of every
    parameter, bit for bit, in float32 and under CPU bfloat16 autocast
    (batches with no box, one box, duplicates, more boxes than the
    denoising queries make groups for; images of different sizes)."""
    import numpy as np
    cfg = model_cfg(DINO_SMALL)
    assert cfg.bbox_head.type == 'FastDINOHead'
    stock_cfg = model_cfg(
        DINO_SMALL, bbox_head=dict(cfg.bbox_head, type='DINOHead'))
    torch.manual_seed(0)
    fast = built(cfg).train()
    stock = MODELS.build(stock_cfg).train()
    assert type(stock.bbox_head).__name__ == 'DINOHead'
    stock.load_state_dict(fast.state_dict())
    rng = np.random.default_rng(3)
    cases = [[0, 1], [3, 3], [0, 0], [25, 2, 9]]
    cases += [
        rng.integers(0, 12, int(rng.integers(1, 4))).tolist() for _ in range(4)
    ]
    for seed, counts in enumerate(cases[:4] if autocast else cases):
        inputs, samples = dino_batch(seed, counts)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
            fast_losses, fast_grads = losses_and_grads(fast, inputs, samples,
                                                       seed)
            stock_losses, stock_grads = losses_and_grads(
                stock, inputs, samples, seed)
        assert list(fast_losses) == list(stock_losses), counts
        for name, value in stock_losses.items():
            torch.testing.assert_close(
                fast_losses[name],
                value,
                rtol=0,
                atol=0,
                msg=f'{counts} {name}')
        assert fast_grads.keys() == stock_grads.keys()
        for name, grad in stock_grads.items():
            torch.testing.assert_close(
                fast_grads[name], grad, rtol=0, atol=0, msg=f'{counts} {name}')


def test_per_level_deformable_attention_equals_mmcvs():
    """The CPU path of ``PerLevelDeformableAttention`` against mmcv's
    ``multi_scale_deformable_attn_pytorch`` (sampling points inside and
    outside the maps, levels of different sizes), and the module against
    mmcv's with the same weights (reference points and boxes, a padding
    mask, batch first or not): the same outputs and gradients to float
    rounding."""
    import copy

    from mmcv.ops import MultiScaleDeformableAttention
    from mmcv.ops.multi_scale_deform_attn import \
        multi_scale_deformable_attn_pytorch

    from field_detr.models import (PerLevelDeformableAttention,
                                   deformable_attention_per_level)
    g = torch.Generator().manual_seed(0)
    shapes = torch.tensor([[12, 20], [6, 10], [3, 5], [2, 3]])
    keys = int(shapes.prod(1).sum())
    bs, queries, heads, head_dims, levels, points = 2, 37, 4, 8, 4, 3

    def leaf(*size, low=0.0, high=1.0):
        x = torch.rand(*size, generator=g) * (high - low) + low
        return x.requires_grad_()

    value = leaf(bs, keys, heads, head_dims, low=-1)
    locations = leaf(bs, queries, heads, levels, points, 2, low=-0.2, high=1.2)
    weights = leaf(bs, queries, heads, levels, points)
    outs, grads = [], []
    for fn in (deformable_attention_per_level,
               multi_scale_deformable_attn_pytorch):
        out = fn(value, shapes, locations, weights)
        out.backward(torch.ones_like(out) * torch.arange(out.shape[-1]))
        outs.append(out)
        grads.append([x.grad.clone() for x in (value, locations, weights)])
        for x in (value, locations, weights):
            x.grad = None
    assert outs[0].shape == (bs, queries, heads * head_dims)
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-6)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)

    for batch_first, box in ((True, False), (True, True), (False, True)):
        torch.manual_seed(1)
        stock = MultiScaleDeformableAttention(
            embed_dims=32,
            num_heads=heads,
            num_levels=levels,
            num_points=points,
            dropout=0.0,
            batch_first=batch_first)
        ours = copy.deepcopy(stock)
        ours.__class__ = PerLevelDeformableAttention
        query = torch.randn(bs, queries, 32, generator=g)
        pos = torch.randn(bs, queries, 32, generator=g)
        memory = torch.randn(bs, keys, 32, generator=g)
        if not batch_first:
            query, pos, memory = (
                x.transpose(0, 1) for x in (query, pos, memory))
        mask = torch.zeros(bs, keys, dtype=torch.bool)
        mask[1, -7:] = True
        ref = torch.rand(bs, queries, levels, 4 if box else 2, generator=g)
        results = []
        for module in (ours, stock):
            out = module(
                query,
                value=memory,
                query_pos=pos,
                key_padding_mask=mask,
                reference_points=ref,
                spatial_shapes=shapes,
                level_start_index=None)
            out.square().sum().backward()
            results.append((out, {
                n: p.grad
                for n, p in module.named_parameters()
            }))
        (a, ga), (b, gb) = results
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        assert ga.keys() == gb.keys()
        for name in gb:
            torch.testing.assert_close(
                ga[name], gb[name], rtol=1e-4, atol=1e-4, msg=name)


def test_sdpa_self_attention_equals_dinos_and_checkpoints_load_both_ways():
    """FieldDINO (the decoder's self-attention through SDPA, under the
    denoising mask; the deformable attention per level) against
    MMDetection's DINO: the same parameter names (checkpoints load both
    ways), outputs, losses and gradients to float rounding."""
    cfg = model_cfg(DINO_SMALL, attention='sdpa', ball_head=None)
    assert cfg.type == 'FieldDINO'
    stock_cfg = model_cfg(DINO_SMALL, ball_head=None)
    stock_cfg.type = 'DINO'
    stock_cfg.pop('attention')
    stock_cfg.pop('ball_head')
    import copy
    torch.manual_seed(0)
    field = built(copy.deepcopy(cfg))
    stock = MODELS.build(stock_cfg)
    assert field.state_dict().keys() == stock.state_dict().keys()
    stock.load_state_dict(field.state_dict(), strict=True)
    MODELS.build(cfg).load_state_dict(stock.state_dict(), strict=True)
    from field_detr.models import SDPAMultiheadAttention
    assert sum(isinstance(m, SDPAMultiheadAttention)
               for m in field.modules()) == 2
    from field_detr.models import PerLevelDeformableAttention
    assert sum(
        isinstance(m, PerLevelDeformableAttention)
        for m in field.modules()) == 4  # 2 encoder + 2 decoder layers
    inputs, samples = dino_batch(0, [2, 5])
    for model in (field, stock):
        model.eval()
    with torch.no_grad():
        for a, b in zip(
                field(inputs, samples, mode='tensor'),
                stock(inputs, samples, mode='tensor')):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert_same_step(*(losses_and_grads(m.train(), inputs, samples, 1)
                       for m in (field, stock)))


def test_fast_dino_head_loss_reads_nothing_back_per_image():
    """The syncing ops (``.item()``, ``nonzero``, ``unique``, device-to-host
    copies) inside the head's loss, batch 8: MMDetection's DINOHead reads
    back per layer and image; FastDINOHead's only ones are F.one_hot's
    range checks in mmdet's CPU focal loss (two per class loss; on CUDA the
    focal loss is mmcv's kernel)."""
    import copy

    from op_counts import OpCounter
    cfg = model_cfg(DINO_SMALL)
    stock_cfg = model_cfg(
        DINO_SMALL, bbox_head=dict(cfg.bbox_head, type='DINOHead'))
    torch.manual_seed(0)
    inputs, samples = dino_batch(5, [3, 7, 1, 12, 0, 4, 9, 2])
    syncs, names = {}, {}
    for name, model_cfg_ in (('fast', cfg), ('stock', stock_cfg)):
        model = built(model_cfg_).train()
        head_loss = model.bbox_head.loss_by_feat

        def counted(*args, head_loss=head_loss, name=name, **kwargs):
            with OpCounter() as counter:
                losses = head_loss(*args, **kwargs)
            syncs[name] = sum(counter.syncs.values())
            names[name] = list(losses)
            return losses

        model.bbox_head.loss_by_feat = counted
        with torch.no_grad():
            model.loss(inputs, copy.deepcopy(samples))
    class_losses = [n for n in names['fast'] if n.endswith('loss_cls')]
    assert len(class_losses) == 5  # 2 decoder layers, encoder, 2 denoising
    assert syncs['fast'] == 2 * len(class_losses), syncs
    assert syncs['stock'] >= 100, syncs


def test_small_dino_resumes_and_infers_sliced(dino_run, tmp_path):
    """The DINO run continues with --resume from its last epoch (a copy of
    the run), and its checkpoint serves sliced inference: tools/infer.py
    with --slice, LocalDetector with tiles, to_supervision()."""
    import shutil

    from field_detr import LocalDetector
    work_dir = str(tmp_path / 'run')
    shutil.copytree(dino_run['work_dir'], work_dir)
    proc = train(
        work_dir,
        '--resume',
        config=DINO_SMALL,
        data=dino_run['data'],
        options=['train_cfg.max_epochs=2', 'train_cfg.val_interval=2'])
    log = proc.stdout + proc.stderr
    assert 'resumed' in log.lower(), log[-3000:]
    meta = torch.load(
        ckpt(work_dir, 'latest_checkpoint.pth'), weights_only=True)['meta']
    assert meta['epoch'] == 2
    source = ckpt(work_dir, 'latest_checkpoint.pth')
    image = sorted(
        glob.glob(osp.join(dino_run['data']['val'], 'images', '*.jpg')))[0]
    out = tmp_path / 'infer'
    proc = run_tool('infer.py', source, image, '--out-dir', str(out),
                    '--slice', '320x192', '--overlap', '0.2', '--threshold',
                    '0.0')
    assert '1 images/frames' in proc.stdout
    assert (out / 'detections.json').exists()
    whole = LocalDetector(source, 0.0, 'cpu').detect(image)
    sliced = LocalDetector(
        source, 0.0, 'cpu', slicing=dict(tile=(320, 192),
                                         overlap=0.2)).detect(image)
    assert len(whole) > 0 and len(sliced) > 0
    assert set(sliced.labels.tolist()) <= {0, 1}
    assert len(sliced.to_supervision()) == len(sliced)


def test_without_the_ball_head_field_dino_is_mmdetections_dino():
    """FieldDINO with ball_head=None and mmcv's attention calls is
    MMDetection's DINO: from one seed the same initial weights, and the
    same outputs, losses and gradients bit for bit."""
    import copy
    cfg = model_cfg(
        DINO_SMALL, attention='stock', deformable='stock', ball_head=None)
    cfg.bbox_head.type = 'DINOHead'  # the head compared on its own above
    stock_cfg = copy.deepcopy(cfg)
    stock_cfg.type = 'DINO'
    for key in ('attention', 'deformable', 'ball_head'):
        stock_cfg.pop(key)
    models = []
    for one in (cfg, stock_cfg):
        torch.manual_seed(0)
        models.append(built(one))
    field, stock = models
    assert type(field).__name__ == 'FieldDINO' and field.ball_head is None
    assert type(stock).__name__ == 'DINO'
    assert field.backbone.out_indices == stock.backbone.out_indices
    theirs = stock.state_dict()
    assert field.state_dict().keys() == theirs.keys()
    for key, value in field.state_dict().items():
        assert torch.equal(value, theirs[key]), key
    inputs, samples = dino_batch(0, [2, 5])
    with torch.no_grad():
        for a, b in zip(field.eval()(inputs, samples, mode='tensor'),
                        stock.eval()(inputs, samples, mode='tensor')):
            assert torch.equal(a, b)
    (lf, gf), (ls, gs) = (
        losses_and_grads(m.train(), inputs, samples, 1)
        for m in (field, stock))
    assert list(lf) == list(ls)
    for name in ls:
        assert torch.equal(lf[name], ls[name]), name
    assert gf.keys() == gs.keys()
    for name in gs:
        assert torch.equal(gf[name], gs[name]), name


def test_a_downsampled_detector_is_the_detector_on_the_pooled_image():
    """``configs/dino_small_field_fullres_ball.py``
    (``detector_downsample=2``): DINO reads the image average-pooled 2x2
    and the ball head's stem reads it whole. DINO's boxes, loss terms and
    gradients are those of the same weights at one size given the pooled
    image (its boxes in the whole image's pixels: twice as large), and the
    ball heatmap is at stride 4 of the whole image. Without a stem it is
    refused."""
    import copy

    import torch.nn.functional as F
    torch.manual_seed(0)
    two = built(model_cfg(FULLRES_BALL))
    one = built(model_cfg(FULLRES_BALL, detector_downsample=1))
    one.load_state_dict(two.state_dict())
    g = torch.Generator().manual_seed(3)
    inputs = torch.randn(2, 3, 128, 160, generator=g)
    boxes = [[[10., 20., 42., 90.], [100., 40., 108., 48.]],
             [[60., 30., 90., 110.]]]
    labels = [[0, 1], [0]]
    whole = [
        data_sample((128, 160), (128, 160), b, lab)
        for b, lab in zip(boxes, labels)
    ]
    pooled = [
        data_sample((64, 80), (64, 80),
                    torch.tensor(b) / 2, lab) for b, lab in zip(boxes, labels)
    ]
    small = F.avg_pool2d(inputs, 2)
    with torch.no_grad():
        ours = two.eval().predict(inputs, copy.deepcopy(whole))
        theirs = one.eval().predict(small, copy.deepcopy(pooled))
        heatmap = two.ball_head(two.extract_feats(inputs)[1])[0]
    assert heatmap.shape[-2:] == (32, 40)
    for a, b in zip(ours, theirs):
        a, b = a.pred_instances, b.pred_instances
        a, b = a[a.labels == 0], b[b.labels == 0]
        assert len(a) > 0
        assert torch.equal(a.scores, b.scores)
        assert torch.allclose(a.bboxes, b.bboxes * 2, rtol=1e-6, atol=1e-4)
    (lt, gt), (lo, go) = (losses_and_grads(m.train(), x, s, 1)
                          for m, x, s in ((two, inputs, whole), (one, small,
                                                                 pooled)))
    for name in lo:
        if 'ball' not in name:
            assert torch.allclose(
                lt[name], lo[name], rtol=1e-5, atol=1e-6), name
    for name in go:
        if not name.startswith('ball_head'):
            assert torch.allclose(
                gt[name], go[name], rtol=1e-4, atol=1e-6), name
    no_stem = model_cfg(FULLRES_BALL)
    no_stem.ball_head.image_channels = 0
    with pytest.raises(ValueError, match='image_channels'):
        built(no_stem)
