"""A small DETR must learn the synthetic pitch, and tools/test.py must report
exactly what pycocotools computes on its results file."""
import json
import os.path as osp

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from conftest import TINY_CONFIG, run_tool, scalars, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def learned(tmp_path_factory):
    """Overfit a few generated images with the small DETR; test on them."""
    from field_detr.demo_data import write_split
    root = tmp_path_factory.mktemp('sanity')
    split = str(root / 'pitch')
    write_split(split, num_images=8, seed=7, empty_every=0)
    work_dir = str(root / 'work')
    train(work_dir, config=TINY_CONFIG,
          data=dict(train=split, val=split),
          options=['default_hooks.checkpoint.interval=1000',
                   'train_cfg.val_interval=1000'])
    out = str(root / 'results.json')
    proc = run_tool('test.py', TINY_CONFIG, osp.join(work_dir, 'last.pth')
                    if osp.exists(osp.join(work_dir, 'last.pth')) else
                    open(osp.join(work_dir, 'last_checkpoint')).read().strip(),
                    '--test-dir', split, '--out', out, '--work-dir',
                    str(root / 'test'))
    return dict(split=split, work_dir=work_dir, out=out, proc=proc)


def _reported(stdout):
    """The mAP table tools/test.py prints: {row: (mAP, mAP50, mAP75)}."""
    lines = stdout.splitlines()
    start = max(i for i, l in enumerate(lines) if l.startswith('COCO box AP'))
    rows = {}
    for line in lines[start + 2:start + 5]:
        name, *vals = line.split()
        rows[name] = tuple(float(v) for v in vals)
    return rows


def test_box_loss_halves(learned):
    losses = [r['loss_bbox'] for r in scalars(learned['work_dir'])
              if 'loss_bbox' in r]
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert last <= 0.5 * first, (first, last)


def test_predictions_move_onto_the_players(learned):
    rows = _reported(learned['proc'].stdout)
    # A random or mis-mapped model scores ~0 here; a broken box format
    # (xywh read as xyxy, or unscaled boxes) fails the IoU 0.5 test.
    assert rows['player'][1] >= 0.5, rows
    assert rows['all'][0] > 0.1, rows


def test_report_equals_pycocotools_on_the_out_file(learned):
    gt = COCO(osp.join(learned['split'], 'annotations', 'annotations.json'))
    with open(learned['out']) as f:
        dets = json.load(f)
    assert {d['category_id'] for d in dets} <= {1, 2}
    rows = _reported(learned['proc'].stdout)

    def coco_eval(cat_ids):
        ev = COCOeval(gt, gt.loadRes(dets), 'bbox')
        ev.params.catIds = cat_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        return ev.stats[:3]

    for name, cat_ids in (('all', [1, 2]), ('player', [1]), ('ball', [2])):
        expected = coco_eval(cat_ids)
        # the table prints 4 decimals
        assert rows[name] == pytest.approx(expected, abs=5e-5), name
