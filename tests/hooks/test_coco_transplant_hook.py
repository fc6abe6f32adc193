"""CocoTransplantHook: COCO's person and sports-ball rows into the field
model's classes, in a run and as a fallback."""

import numpy as np
import pytest
import torch

from helpers.models import built
from helpers.runs import MAIN_CONFIG


def _detr(num_classes, ball_head=True):
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    register_all_modules()
    cfg = Config.fromfile(MAIN_CONFIG)
    cfg.model.backbone.init_cfg = None
    cfg.model.bbox_head.num_classes = num_classes
    if not ball_head:
        cfg.model.ball_head = None
    return built(cfg.model).eval()


@pytest.fixture(scope='module')
def coco_detr(tmp_path_factory):
    """An 80-class COCO DETR made and saved here: it stands in for
    MMDetection's COCO checkpoint, which cannot be downloaded offline."""
    torch.manual_seed(0)
    model = _detr(80, ball_head=False)  # MMDetection's DETR has none
    path = str(tmp_path_factory.mktemp('coco') / 'coco_detr.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return model, path


def test_coco_head_transplant(coco_detr):
    """The 2-class model gets the person / sports-ball / no-object
    classifier rows and every other weight, and its DETR predicts exactly
    what the 80-class model predicts for those classes; the ball head,
    which COCO's DETR does not have, is reported as new."""
    from mmdet.datasets import CocoDataset
    from mmdet.structures import DetDataSample

    from field_detr.hooks.coco_transplant_hook import transplant_coco_head
    coco_model, path = coco_detr

    model = _detr(2)
    initial_head = {
        k: v.clone()
        for k, v in model.ball_head.state_dict().items()
    }
    n, new = transplant_coco_head(model, path, ('player', 'ball'),
                                  dict(player='person', ball='sports ball'))
    assert new and all(k.startswith('ball_head.') for k in new)
    assert sorted(new) == sorted(f'ball_head.{k}' for k in initial_head)
    assert n == len(model.state_dict()) - len(new)
    for key, value in model.ball_head.state_dict().items():
        assert torch.equal(value, initial_head[key]), key
    coco_classes = CocoDataset.METAINFO['classes']
    rows = [
        coco_classes.index('person'),
        coco_classes.index('sports ball'), 80
    ]
    src, dst = coco_model.state_dict(), model.state_dict()
    for part in ('weight', 'bias'):
        key = f'bbox_head.fc_cls.{part}'
        assert torch.equal(dst[key], src[key][rows])
    for key in dst:
        if 'fc_cls' not in key and key not in new:
            assert torch.equal(dst[key], src[key]), key

    from field_detr.datasets.demo_data import draw_scene
    img, _ = draw_scene(np.random.default_rng(1))
    x = torch.from_numpy(img[..., ::-1].copy()).permute(2, 0, 1).float()
    x = ((x - torch.tensor([123.675, 116.28, 103.53])[:, None, None]) /
         torch.tensor([58.395, 57.12, 57.375])[:, None, None])[None]
    sample = DetDataSample(
        metainfo=dict(
            img_shape=img.shape[:2],
            batch_input_shape=img.shape[:2],
            ori_shape=img.shape[:2],
            scale_factor=(1.0, 1.0)))
    with torch.no_grad():
        logits80, boxes80 = coco_model._forward(x, [sample])
        logits2, boxes2 = model._forward(x, [sample])[:2]
        pred2 = model.predict(x, [sample.clone()])[0].pred_instances
    # the ball detections are the head's; the DETR's are its players
    pred2 = pred2[pred2.labels == 0]
    assert torch.allclose(boxes2, boxes80)
    assert torch.allclose(logits2, logits80[..., rows], atol=1e-6)
    # the 80-class model's person/ball predictions, decoded as DETRHead
    # does: softmax over {person, ball, no object}, best class per query
    probs = logits80[-1, 0][:, rows].softmax(-1)[:, :-1]
    scores, labels = probs.max(-1)
    order = scores.argsort(descending=True)
    order = order[labels[order] == 0]
    assert torch.allclose(pred2.scores, scores[order], atol=1e-6)
    assert torch.equal(pred2.labels, labels[order])


def _transplant_in_a_run(checkpoint, **cfg):
    """Run ``CocoTransplantHook(checkpoint).before_train`` as MMEngine's
    Runner does before the first step, on the main config's 2-class model;
    return the model and what the hook logged: ``(level, message)``, the
    level ``'user'`` for the lines a user should see (logged as
    ``field_detr``)."""
    import logging
    from unittest.mock import Mock

    from mmengine.config import Config
    from mmengine.logging import MMLogger

    from field_detr.hooks.coco_transplant_hook import CocoTransplantHook
    lines = []

    class Keep(logging.Handler):

        def emit(self, record):
            level = 'user' if record.name == 'field_detr' else \
                record.levelname.lower()
            lines.append((level, record.getMessage()))

    runner = Mock()
    runner.cfg = Config(cfg)
    runner.model = _detr(2)
    runner.train_dataloader.dataset.metainfo = dict(classes=('player', 'ball'))
    runner.logger = MMLogger.get_instance(f'transplant_{id(lines)}')
    keep = Keep()
    runner.logger.addHandler(keep)
    try:
        CocoTransplantHook(checkpoint).before_train(runner)
    finally:
        # the logger stays MMEngine's current one, and MMEngine's MLflow
        # backend takes every handler of it for a stream handler
        runner.logger.removeHandler(keep)
    return runner.model, lines


def test_training_starts_from_the_transplanted_head(coco_detr, monkeypatch):
    monkeypatch.setenv('FIELD_DETR_COCO_START', '1')
    coco_model, path = coco_detr
    model, lines = _transplant_in_a_run(path)
    assert len(lines) == 1 and lines[0][0] == 'user'
    assert f'from {path}; classifier rows' in lines[0][1]
    assert lines[0][1].endswith(
        'tensors new to this model, trained from scratch: ball_head')
    assert torch.equal(model.bbox_head.fc_reg.weight,
                       coco_model.bbox_head.fc_reg.weight)
    # a resumed run or one with load_from keeps its own weights
    for cfg in (dict(resume=True), dict(load_from='x.pth')):
        model, lines = _transplant_in_a_run(path, **cfg)
        assert not torch.equal(model.bbox_head.fc_reg.weight,
                               coco_model.bbox_head.fc_reg.weight)
        assert lines == [('user', 'COCO head transplant skipped: the run '
                          'starts from a checkpoint')]


def test_transplant_falls_back_when_unavailable(monkeypatch):
    monkeypatch.setenv('FIELD_DETR_COCO_START', '1')
    _, lines = _transplant_in_a_run('/nonexistent/coco.pth')
    assert len(lines) == 1 and lines[0][0] == 'warning'
    assert 'COCO-pretrained start unavailable (/nonexistent/coco.pth' \
        in lines[0][1]
    assert 'training from the configured initialisation instead' \
        in lines[0][1]


def test_the_checkpoint_is_the_model_configs_coco_checkpoint(
        coco_detr, monkeypatch):
    """Without a checkpoint of its own the hook loads the config's
    coco_checkpoint (each model config names its family's), and with
    none it says so and leaves the model as built."""
    monkeypatch.setenv('FIELD_DETR_COCO_START', '1')
    coco_model, path = coco_detr
    model, lines = _transplant_in_a_run(None, coco_checkpoint=path)
    assert lines[0][0] == 'user' and f'from {path};' in lines[0][1]
    assert torch.equal(model.bbox_head.fc_reg.weight,
                       coco_model.bbox_head.fc_reg.weight)
    model, lines = _transplant_in_a_run(None, coco_checkpoint=None)
    assert lines == [('user', 'COCO head transplant skipped: the config '
                      'names no coco_checkpoint for this model')]
    assert not torch.equal(model.bbox_head.fc_reg.weight,
                           coco_model.bbox_head.fc_reg.weight)
