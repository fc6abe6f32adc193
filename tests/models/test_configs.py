"""The configs' models are MMDetection's, field for field, except what
the project documents (two classes, its faster classes, the ball head)."""
import os.path as osp

from helpers.runs import MAIN_CONFIG, ROOT

DINO_CONFIG = osp.join(ROOT, 'configs', 'dino_r50_field.py')
DINO_DEMO_CONFIG = osp.join(ROOT, 'configs', 'dino_r50_field_demo.py')


def test_the_model_is_mmdetections_dino_4scale_r50():
    """configs/dino_r50_field.py holds MMDetection's DINO-4scale R-50 model
    with 2 classes (the non-blocking copy of the batch, the batched head):
    nothing else of the model differs, so a change in either config shows
    here."""
    from mmengine.config import Config
    ours = Config.fromfile(DINO_CONFIG).model.to_dict()
    import mmdet
    stock = Config.fromfile(
        osp.join(
            osp.dirname(mmdet.__file__), '.mim', 'configs', 'dino',
            'dino-4scale_r50_8xb2-12e_coco.py')).model.to_dict()
    assert ours['bbox_head'].pop('num_classes') == 2
    assert ours['bbox_head'].pop('type') == 'FastDINOHead'
    assert stock['bbox_head'].pop('type') == 'DINOHead'
    assert stock['bbox_head'].pop('num_classes') == 80
    assert ours['data_preprocessor'].pop('non_blocking') is True
    assert ours.pop('type') == 'FieldDINO' and stock.pop('type') == 'DINO'
    assert ours.pop('attention') == 'sdpa'
    ball_head = ours.pop('ball_head')
    assert ball_head['type'] == 'BallHeatmapHead'
    assert ball_head['in_indices'] == (0, 1)  # strides 4 and 8
    assert ours == stock
    demo = Config.fromfile(DINO_DEMO_CONFIG)
    assert demo.model.type == 'FieldDINO' and demo.model.attention == 'stock'
    assert demo.model.backbone.init_cfg is None
    assert demo.model.ball_head.in_channels == (256, 512)
    # the project's data, hooks and tracking, not COCO's
    assert demo.train_dataloader.dataset.type == 'FieldCocoDataset'
    assert demo.val_evaluator.type == 'FieldCocoMetric'
    hooks = [h['type'] for h in demo.custom_hooks]
    assert 'MLflowRunHook' in hooks and 'CocoTransplantHook' in hooks
    assert demo.default_hooks.checkpoint.type == 'CheckpointLayoutHook'


def test_the_model_is_mmdetections_detr_r50():
    """configs/detr_r50_field.py holds MMDetection's DETR R-50 model
    (detr_r50_8xb2-150e_coco.py) with 2 classes, its faster classes (SDPA
    attention, batched matching, the preprocessor without a host copy) and
    the ball head: nothing else differs."""
    from mmengine.config import Config
    ours = Config.fromfile(MAIN_CONFIG).model.to_dict()
    import mmdet
    stock = Config.fromfile(
        osp.join(
            osp.dirname(mmdet.__file__), '.mim', 'configs', 'detr',
            'detr_r50_8xb2-150e_coco.py')).model.to_dict()
    assert ours['bbox_head'].pop('num_classes') == 2
    assert stock['bbox_head'].pop('num_classes') == 80
    assert ours['bbox_head'].pop('type') == 'FastDETRHead'
    assert stock['bbox_head'].pop('type') == 'DETRHead'
    assert ours['data_preprocessor'].pop('non_blocking') is True
    assert ours['data_preprocessor'].pop('type') == \
        'FieldDetDataPreprocessor'
    assert stock['data_preprocessor'].pop('type') == 'DetDataPreprocessor'
    assert ours.pop('type') == 'FieldDETR' and stock.pop('type') == 'DETR'
    assert ours.pop('attention') == 'sdpa'
    assert ours.pop('ball_head')['in_indices'] == (0, 1)  # strides 4 and 8
    assert not any(ours.pop('gpu').values())  # every GPU switch off
    assert ours == stock
