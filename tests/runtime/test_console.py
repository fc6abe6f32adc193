"""The demo's short console (field_detr.runtime.console) on real MMEngine lines."""
from field_detr.runtime.console import filter_lines

LOG = """\
11/27 15:07:10 - mmengine - INFO - 
------------------------------------------------------------
System environment:
    sys.platform: linux
11/27 15:07:10 - mmengine - INFO - Config:
model = dict(type='FieldDETR')
11/27 15:07:14 - field_detr - INFO - MLflow: run abc (new) in experiment "detr_training" at sqlite:///m/mlflow.db
11/27 15:07:15 - mmengine - INFO - paramwise_options -- backbone.conv1.weight:lr=1e-05
11/27 15:07:16 - mmengine - WARNING - "FileClient" will be deprecated in future.
11/27 15:07:16 - mmengine - WARNING - Please make sure that the mlflow server is running.
11/27 15:07:16 - mmengine - WARNING - COCO-pretrained start unavailable (https://x/detr.pth: URLError: <urlopen error [Errno -2] Name or service not known>); training from the configured initialisation instead
/site-packages/mmcv/cnn/bricks/transformer.py:441: DeprecationWarning: The arguments `dropout` in MultiheadAttention has been deprecated
  warnings.warn(
2026/11/27 15:07:27 - mmengine - INFO - Epoch(train) [1][ 5/24]  base_lr: 1.8217e-05 lr: 1.8217e-06  eta: 0:04:53  time: 2.1111  data_time: 0.0275  grad_norm: 374.5616  loss: 51.8552  loss_cls: 0.7850  loss_bbox: 5.4063
11/27 15:08:58 - mmengine - INFO - 
 Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.000
11/27 15:08:58 - mmengine - INFO - Epoch(val) [2][8/8]    coco/bbox_mAP: 0.0010  coco/bbox_mAP_50: 0.0030  coco/player_mAP_50: 0.0050  coco/ball_mAP_50: 0.0000  coco/ball_recall_10px: 0.2500  coco/ball_f1_10px: 0.1000  data_time: 0.01  time: 0.2
11/27 15:08:59 - field_detr - INFO - best_model.pth: coco/bbox_mAP 0.0010 at epoch 2
error: datasets/train/annotations/annotations.json: image 3 has no file_name
Traceback (most recent call last):
  File "tools/train.py", line 1, in <module>
RuntimeError: boom
"""


def test_progress_tables_warnings_and_errors_only():
    out = list(filter_lines(LOG.splitlines(keepends=True)))
    assert out == [
        'MLflow: run abc (new) in experiment "detr_training" at '
        'sqlite:///m/mlflow.db',
        'warning: COCO-pretrained start unavailable (https://x/detr.pth: '
        'URLError: <urlopen error [Errno -2] Name or service not known>); '
        'training from the configured initialisation instead',
        '[train] epoch 1  iter 5/24  loss 51.855  eta 0:04:53',
        '[val] epoch 2  mAP 0.001  mAP@0.5 0.003  player AP@0.5 0.005  '
        'ball AP@0.5 0.000  ball recall@10px 0.250  ball F1@10px 0.100',
        'best_model.pth: coco/bbox_mAP 0.0010 at epoch 2',
        'error: datasets/train/annotations/annotations.json: image 3 has '
        'no file_name',
        'Traceback (most recent call last):',
        '  File "tools/train.py", line 1, in <module>',
        'RuntimeError: boom',
    ]
