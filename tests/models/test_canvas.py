"""FieldDetDataPreprocessor: its output is the stock preprocessor's (the
channel flip without a host copy), and with canvases the
images, their scales and boxes are the stock preprocessor's, and the DETR's
losses on a batch padded to a canvas are those of the same batch padded as
MMDetection pads it."""
import copy
import json

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmengine.structures import InstanceData

from field_detr.models.data_preprocessor import choose_canvas
from helpers.models import built, model_cfg
from helpers.runs import MAIN_CONFIG, SMALL_CONFIG, run_tool

register_all_modules()


def raw_batch(seed, sizes):
    """What the data loader hands the preprocessor: uint8 images of their
    own sizes (h, w) and samples with boxes in image coordinates."""
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for h, w in sizes:
        inputs.append(torch.randint(0, 256, (3, h, w), generator=g).byte())
        xy = torch.rand(3, 2, generator=g) * torch.tensor([w, h]) * 0.6
        wh = 8 + torch.rand(3, 2, generator=g) * 30
        sample = DetDataSample(
            metainfo=dict(
                img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0)))
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1), labels=torch.tensor([0, 1, 0]))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def preprocessors(canvases):
    model = model_cfg(SMALL_CONFIG)
    stock = copy.deepcopy(model.data_preprocessor)
    stock.type = 'DetDataPreprocessor'
    ours = dict(stock, type='FieldDetDataPreprocessor', canvases=canvases)
    return MODELS.build(stock), MODELS.build(ours)


def test_choose_canvas_takes_the_smallest_that_holds_the_batch():
    canvases = [(768, 1344), (512, 896), (640, 1152)]
    assert choose_canvas(480, 853, canvases) == (512, 896)
    assert choose_canvas(512, 897, canvases) == (640, 1152)
    assert choose_canvas(750, 1333, canvases) == (768, 1344)
    # larger than every canvas: its own size, rounded up to the divisor
    assert choose_canvas(800, 1333, canvases, 32) == (800, 1344)


def test_without_canvases_the_output_is_the_stock_preprocessors():
    stock, ours = preprocessors(None)
    assert ours._flip_channels  # the configs turn BGR into RGB
    for data in (raw_batch(2, [(96, 128), (80, 120)]),
                 dict(raw_batch(3, [(96, 128), (96, 128)]))):
        if data['inputs'][0].shape == data['inputs'][1].shape:
            data['inputs'] = torch.stack(data['inputs'])  # default_collate
        a = stock(copy.deepcopy(data), training=True)
        b = ours(copy.deepcopy(data), training=True)
        assert torch.equal(a['inputs'], b['inputs'])
        assert [s.batch_input_shape for s in a['data_samples']] == \
            [s.batch_input_shape for s in b['data_samples']]


def test_canvas_padding_keeps_images_and_boxes_and_counts_outsiders():
    stock, ours = preprocessors([(160, 224), (256, 320)])
    sizes = [(150, 200), (131, 190)]
    a = stock(raw_batch(0, sizes), training=True)
    b = ours(raw_batch(0, sizes), training=True)
    assert a['inputs'].shape[-2:] == (150, 200)
    assert b['inputs'].shape[-2:] == (160, 224)
    assert torch.equal(b['inputs'][..., :150, :200], a['inputs'])
    assert (b['inputs'][..., 150:, :] == ours.pad_value).all()
    assert (b['inputs'][..., 200:] == ours.pad_value).all()
    for x, y in zip(a['data_samples'], b['data_samples']):
        assert torch.equal(x.gt_instances.bboxes, y.gt_instances.bboxes)
        assert x.img_shape == y.img_shape and x.pad_shape == y.pad_shape
        assert y.batch_input_shape == (160, 224)
    assert ours.outside_canvases == 0
    big = ours(raw_batch(1, [(300, 200)]), training=True)
    assert big['inputs'].shape[-2:] == (300, 200)
    assert ours.outside_canvases == 1
    with pytest.raises(ValueError, match='height, width'):
        preprocessors([(160, 0)])


@pytest.mark.parametrize('seed,sizes', [
    (0, [(176, 240), (150, 231)]),
    (1, [(176, 240), (150, 231)]),
    (2, [(170, 233), (150, 231)]),
    (3, [(170, 233), (150, 231)]),
])
def test_detr_losses_on_a_canvas_equal_the_stock_padding(seed, sizes):
    """The DETR masks the padding (attention keys, positional encoding
    normalised by each image's own extent): the extra canvas changes the
    losses by float rounding only (measured: 2.2e-7 relative at most), with
    the batch's own size a multiple of the backbone's stride (16) or not."""
    torch.manual_seed(seed)
    model = built(model_cfg(SMALL_CONFIG, ball_head=None))
    model.eval()  # no dropout: the same computation on both batches
    stock, ours = preprocessors([(192, 256), (256, 384)])
    a = stock(raw_batch(seed, sizes), training=True)
    b = ours(raw_batch(seed, sizes), training=True)
    assert b['inputs'].shape[-2:] == (192, 256)
    with torch.no_grad():
        la = model.loss(a['inputs'], a['data_samples'])
        lb = model.loss(b['inputs'], b['data_samples'])
    assert la.keys() == lb.keys()
    for key in la:
        torch.testing.assert_close(lb[key], la[key], rtol=1e-5, atol=1e-6)


def test_canvas_stats_counts_the_pipelines_shapes(tmp_path):
    """tools/analysis_tools/canvas_stats.py on the main config: the
    pipeline's own scales of 1080p frames, and one canvas that holds them
    all gives one shape with more padding than the stock rule."""
    out = tmp_path / 'canvas.json'
    run_tool('analysis_tools/canvas_stats.py', MAIN_CONFIG, '--frames', '64',
             '--batch-size', '4', '--canvases', '768x1344', '--json', str(out))
    figures = json.loads(out.read_text())
    scales = {int(k.split('x')[0]) for k in figures['sizes']}
    # RandomChoiceResize (s, 1333), keep ratio: 16:9 frames stop at 750
    assert scales <= set(range(480, 750, 32)) | {750}
    assert sum(figures['sizes'].values()) == 64
    rules = figures['rules']
    stock = rules['the batch, to 1 (now)']
    canvas = rules['canvases 768x1344']
    assert canvas['shapes'] == 1 < stock['shapes']
    assert canvas['padding'] > stock['padding'] > 0
