"""Every kind of bad split stops with one line naming the file and record."""
import copy
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from field_detr.datasets import validation
from field_detr.datasets.validation import load_coco_split
from field_detr.errors import InputError
from helpers.runs import cut_short


def _split(tmp_path, coco=None, images=((1, 'a.jpg', 64, 48), )):
    """Write a split; ``coco`` defaults to one player and one ball."""
    img_dir = tmp_path / 'images'
    img_dir.mkdir(parents=True, exist_ok=True)
    for _, name, w, h in images:
        Image.new('RGB', (w, h), (0, 128, 0)).save(img_dir / name)
    if coco is None:
        coco = dict(
            images=[
                dict(id=i, file_name=n, width=w, height=h)
                for i, n, w, h in images
            ],
            annotations=[
                dict(id=1, image_id=1, category_id=1, bbox=[10, 5, 8, 20]),
                dict(id=2, image_id=1, category_id=2, bbox=[30, 30, 4, 4]),
            ],
            categories=[dict(id=1, name='player'),
                        dict(id=2, name='ball')])
    ann = tmp_path / 'annotations' / 'annotations.json'
    ann.parent.mkdir(exist_ok=True)
    ann.write_text(coco if isinstance(coco, str) else json.dumps(coco))
    return str(ann), str(img_dir), coco


def test_valid_split_maps_classes_by_name(tmp_path):
    ann, img_dir, _ = _split(tmp_path)
    split = load_coco_split(ann, img_dir)
    assert split.cat_ids == [1, 2]
    labels = [a['label'] for a in split.anns_by_image[1]]
    assert labels == [0, 1]
    assert split.class_counts() == {'player': 1, 'ball': 1}


def test_zero_based_reordered_mixed_case_categories(tmp_path):
    coco = dict(
        images=[
            dict(id=0, file_name='a.jpg', width=64, height=48),
            dict(id=7, file_name='b.jpg', width=64, height=48)
        ],
        annotations=[
            dict(id=0, image_id=0, category_id=0, bbox=[1, 1, 5, 5]),
            dict(id=1, image_id=0, category_id=1, bbox=[10, 5, 8, 20]),
        ],
        # ball first, id 0; a super-category no annotation uses.
        categories=[
            dict(id=0, name='Ball'),
            dict(id=1, name='PLAYER'),
            dict(id=5, name='players-ball')
        ])
    ann, img_dir, _ = _split(
        tmp_path, coco, images=((0, 'a.jpg', 64, 48), (7, 'b.jpg', 64, 48)))
    split = load_coco_split(ann, img_dir)
    assert split.cat_ids == [1, 0]  # player -> id 1, ball -> id 0
    assert [a['label'] for a in split.anns_by_image[0]] == [1, 0]
    # the image without annotations is kept
    assert [img['id'] for img in split.images] == [0, 7]
    assert split.anns_by_image[7] == []
    assert split.ignored_categories == ['players-ball']
    # ground truth for pycocotools: annotation ids renumbered from 1
    gt = split.to_coco_dict()
    assert [a['id'] for a in gt['annotations']] == [1, 2]
    assert [a['category_id'] for a in gt['annotations']] == [0, 1]


def _mutate(fn):

    def apply(coco):
        coco = copy.deepcopy(coco)
        fn(coco)
        return coco

    return apply


BAD_CASES = {
    'invalid JSON': ('{"images": [', 'invalid JSON at line 1'),
    'missing images':
    (_mutate(lambda c: c.pop('images')), 'missing "images" list'),
    'missing annotations':
    (_mutate(lambda c: c.pop('annotations')), 'missing "annotations" list'),
    'missing categories': (_mutate(lambda c: c.pop('categories')),
                           'missing "categories" list'),
    'unknown category id':
    (_mutate(lambda c: c['annotations'][1].update(category_id=9)),
     'annotations[1] (id=2): unknown category id 9'),
    'annotation of an unlisted class':
    (_mutate(lambda c: (c['categories'].append(dict(id=3, name='referee')), c[
        'annotations'][1].update(category_id=3))),
     'annotations[1] (id=2): unknown category "referee"'),
    'class missing from categories':
    (_mutate(lambda c: (c['categories'].pop(), c['annotations'].pop())),
     'no category named "ball"'),
    'bbox of 3 numbers':
    (_mutate(lambda c: c['annotations'][0].update(bbox=[1, 2, 3])),
     'annotations[0] (id=1): bbox must be 4 numbers'),
    'bbox with a string':
    (_mutate(lambda c: c['annotations'][0].update(bbox=[1, 2, 'x', 4])),
     'annotations[0] (id=1): bbox must be 4 numbers'),
    'zero width':
    (_mutate(lambda c: c['annotations'][0].update(bbox=[1, 2, 0, 4])),
     'annotations[0] (id=1): bbox [1, 2, 0, 4] has non-positive'),
    'negative height':
    (_mutate(lambda c: c['annotations'][1].update(bbox=[1, 2, 3, -4])),
     'annotations[1] (id=2): bbox [1, 2, 3, -4] has non-positive'),
    'box outside the image':
    (_mutate(lambda c: c['annotations'][0].update(bbox=[60, 5, 10, 10])),
     'annotations[0] (id=1): bbox [60, 5, 10, 10] lies outside its '
     '64x48 image'),
    'duplicate image id': (_mutate(lambda c: c['images'].append(
        dict(id=1, file_name='a.jpg', width=64, height=48))),
                           'images[1] ("a.jpg"): duplicate image id 1'),
    'duplicate annotation id':
    (_mutate(lambda c: c['annotations'][1].update(id=1)),
     'annotations[1] (id=1): duplicate annotation id 1'),
    'annotation for an unknown image':
    (_mutate(lambda c: c['annotations'][1].update(image_id=42)),
     'annotations[1] (id=2): image_id 42 is not in images'),
    'empty split': (_mutate(lambda c: (c.update(images=[], annotations=[]))),
                    'empty split'),
    'missing image file':
    (_mutate(lambda c: c['images'][0].update(file_name='gone.jpg')),
     'images[0] (id=1): image file not found:'),
    'image size differs from JSON':
    (_mutate(lambda c: c['images'][0].update(width=100)),
     'a.jpg is 64x48 but the JSON says 100x48'),
}


@pytest.mark.parametrize('case', sorted(BAD_CASES))
def test_bad_input_is_reported_with_file_and_record(tmp_path, case):
    ann, img_dir, good = _split(tmp_path)
    bad, expected = BAD_CASES[case]
    ann, img_dir, _ = _split(tmp_path,
                             bad if isinstance(bad, str) else bad(good))
    with pytest.raises(InputError) as info:
        load_coco_split(ann, img_dir)
    msg = str(info.value)
    assert msg.startswith(ann + ': '), msg
    assert expected in msg, msg
    assert '\n' not in msg


def test_unreadable_image(tmp_path):
    ann, img_dir, _ = _split(tmp_path)
    with open(osp.join(img_dir, 'a.jpg'), 'wb') as f:
        f.write(b'not an image at all')
    with pytest.raises(
            InputError,
            match=r'images\[0\] \(id=1\): '
            r'unreadable image .*a\.jpg'):
        load_coco_split(ann, img_dir)


@pytest.mark.parametrize('name', ['a.jpg', 'a.png'])
def test_image_cut_short_is_refused(tmp_path, name):
    """A frame cut short by an interrupted copy: its header still reads
    (the size is right), its last bytes are missing."""
    rng = np.random.default_rng(0)
    ann, img_dir, coco = _split(tmp_path, images=((1, name, 64, 48), ))
    Image.fromarray(rng.integers(0, 255, (48, 64, 3),
                                 np.uint8)).save(osp.join(img_dir, name))
    load_coco_split(ann, img_dir)
    path = osp.join(img_dir, name)
    cut_short(path)
    with pytest.raises(InputError) as info:
        load_coco_split(ann, img_dir)
    msg = str(info.value)
    assert msg.startswith(f'{ann}: images[0] (id=1): unreadable image '
                          f'{path} (cut short or corrupt): '), msg
    assert '\n' not in msg


def test_images_read_whole_once(tmp_path, monkeypatch):
    """Each image is read whole once: a second check, in this process or
    a new one (the cache file beside the annotations), reads none again
    until a file changes."""
    ann, img_dir, _ = _split(
        tmp_path, images=((1, 'a.jpg', 64, 48), (2, 'b.jpg', 64, 48)))
    read = []

    def counting(path):
        read.append(osp.basename(path))
        return real(path)

    from field_detr.datasets import image_files
    real = image_files.read_whole_image
    monkeypatch.setattr(image_files, 'read_whole_image', counting)
    monkeypatch.setattr(image_files, '_READ_WHOLE', {})
    load_coco_split(ann, img_dir)
    assert read == ['a.jpg', 'b.jpg']
    assert osp.isfile(osp.join(osp.dirname(ann), image_files.IMAGE_CACHE_NAME))
    load_coco_split(ann, img_dir)
    monkeypatch.setattr(image_files, '_READ_WHOLE', {})  # a new process
    load_coco_split(ann, img_dir)
    assert read == ['a.jpg', 'b.jpg']
    Image.new('RGB', (64, 48), (200, 0, 0)).save(osp.join(img_dir, 'b.jpg'))
    os.utime(osp.join(img_dir, 'b.jpg'), ns=(1, 1))  # another time
    load_coco_split(ann, img_dir)
    assert read == ['a.jpg', 'b.jpg', 'b.jpg']


def test_missing_annotation_file(tmp_path):
    with pytest.raises(InputError, match='annotation file not found'):
        load_coco_split(str(tmp_path / 'nope.json'), str(tmp_path))


def test_box_rounding_overshoot_is_clipped(tmp_path):
    ann, img_dir, coco = _split(tmp_path)
    coco['annotations'][0]['bbox'] = [-0.5, 40, 10, 8.6]  # 0.6 px past h=48
    ann, img_dir, _ = _split(tmp_path, coco)
    box = load_coco_split(ann, img_dir).anns_by_image[1][0]['bbox']
    assert box == pytest.approx([0.0, 40, 9.5, 8.0])
