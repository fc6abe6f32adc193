"""The logged names of MMEngine's scalars (MLflow and TensorBoard)."""
import pytest

from field_detr.tracking.metric_names import metric_name, rename_scalars


@pytest.mark.parametrize('key, name', [
    ('loss', 'train_loss'),
    ('loss_cls', 'train_loss_cls'),
    ('d0.loss_bbox', 'train_d0.loss_bbox'),
    ('lr', 'learning_rate'),
    ('memory', 'memory_gpu_mb'),
    ('memory_ram_mb', 'memory_ram_mb'),
    ('grad_norm', 'grad_norm'),
    ('coco/bbox_mAP', 'val_map'),
    ('coco/bbox_mAP_50', 'val_map_50'),
    ('coco/bbox_mAP_s', 'val_map_small'),
    ('coco/player_mAP', 'val_ap_player'),
    ('coco/ball_mAP_50', 'val_ap50_ball'),
    ('coco/ball_mAP_tiny', 'val_ap_ball_tiny'),
    ('coco/ball_mAP_50_small', 'val_ap50_ball_small'),
    ('coco/ball_recall_10px', 'val_ball_recall_10px'),
    ('coco/ball_false_rate', 'val_ball_false_rate'),
])
def test_metric_name(key, name):
    assert metric_name(key) == name


def test_timings_of_validation_get_their_own_names():
    assert metric_name('time') == 'iter_time'
    assert metric_name('time', validation=True) == 'val_iter_time'
    renamed = rename_scalars({
        'coco/bbox_mAP': 0.5,
        'time': 0.1,
        'data_time': 0.01,
        'epoch': 3,
        'step': 30
    })
    assert renamed == {
        'val_map': 0.5,
        'val_iter_time': 0.1,
        'val_data_time': 0.01
    }
    assert rename_scalars({
        'loss': 1.0,
        'time': 0.2,
        'iter': 5
    }) == {
        'train_loss': 1.0,
        'iter_time': 0.2
    }
