"""Validation of a COCO split before anything trains on it.

A split is a folder holding ``images/`` and ``annotations/annotations.json``.
:func:`load_coco_split` reads the JSON once, checks every record and returns a
normalised view that the dataset and the metric share. Every problem raises
:class:`InputError` with one line naming the file and the record, so a
user never has to read a traceback from inside pycocotools or mmdet.

Rules:

* ``images``, ``annotations`` and ``categories`` must be lists.
* Classes are matched to categories by name, case-insensitively; the category
  ids may be 0- or 1-based and in any order. Categories named otherwise are
  allowed (e.g. a dataset-level super-category) as long as no annotation uses
  them; they are reported, not dropped silently.
* A ``bbox`` is ``[x, y, w, h]`` of 4 finite numbers with ``w > 0`` and
  ``h > 0`` lying inside the image. ``BOX_TOLERANCE`` pixels of overshoot are
  accepted (exporters round coordinates) and clipped to the image.
* Image and annotation ids are unique; every annotation names a known image.
* When ``img_dir`` is given, every image file must exist, be readable to
  its last byte (a JPEG's scans decoded at 1/8 scale, a PNG's chunks and
  their CRCs, other formats decoded whole: a file cut short by an
  interrupted copy is refused here, not in a data-loader worker) and have
  the width and height the JSON declares. Images found whole are
  remembered by path, size and modification time, in this process and in
  ``annotations/.image_check_cache.json`` beside the split's annotations,
  so the next run reads them no more.
* Images without annotations are kept (they teach the model "nothing here").
"""
from __future__ import annotations
import json
import math
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import InputError
from .image_files import ImageCache

#: Pixels a box may extend past the image border (rounding in exporters).
BOX_TOLERANCE = 1.0

ANN_RELPATH = osp.join('annotations', 'annotations.json')
IMG_RELDIR = 'images'


@dataclass
class CocoSplit:
    """A validated COCO split.

    Attributes:
        ann_file: path of the annotation JSON.
        img_dir: folder the ``file_name`` entries are relative to.
        classes: class names in label order.
        cat_ids: the file's category id for each class (label order).
        images: image records (``id``, ``file_name``, ``width``, ``height``).
        anns_by_image: image id -> list of annotations, each with ``bbox``
            (xywh, clipped to the image), ``label`` (class index),
            ``category_id``, ``iscrowd`` and ``area``.
        ignored_categories: names of categories that match no class.
    """
    ann_file: str
    img_dir: Optional[str]
    classes: Sequence[str]
    cat_ids: List[int]
    images: List[dict]
    anns_by_image: Dict[int, List[dict]] = field(default_factory=dict)
    ignored_categories: List[str] = field(default_factory=list)

    @property
    def num_annotations(self) -> int:
        return sum(len(v) for v in self.anns_by_image.values())

    def class_counts(self) -> Dict[str, int]:
        counts = {name: 0 for name in self.classes}
        for anns in self.anns_by_image.values():
            for ann in anns:
                counts[self.classes[ann['label']]] += 1
        return counts

    def to_coco_dict(self) -> dict:
        """Ground truth as a COCO dict for pycocotools.

        Image and category ids are the file's own; annotation ids are
        renumbered from 1 because pycocotools treats id 0 as "unmatched".
        """
        annotations = []
        for img in self.images:
            for ann in self.anns_by_image.get(img['id'], []):
                annotations.append(
                    dict(
                        id=len(annotations) + 1,
                        image_id=img['id'],
                        category_id=ann['category_id'],
                        bbox=list(ann['bbox']),
                        area=ann['area'],
                        iscrowd=ann['iscrowd']))
        categories = [
            dict(id=cid, name=name)
            for cid, name in zip(self.cat_ids, self.classes)
        ]
        return dict(
            images=[dict(img) for img in self.images],
            annotations=annotations,
            categories=categories)


def split_paths(split_dir: str) -> tuple:
    """``(ann_file, img_dir)`` of a split folder."""
    return osp.join(split_dir, ANN_RELPATH), osp.join(split_dir, IMG_RELDIR)


def _is_number(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v))


def load_coco_split(ann_file: str,
                    img_dir: Optional[str] = None,
                    classes: Sequence[str] = ('player', 'ball'),
                    check_images: bool = True) -> CocoSplit:
    """Read and validate a COCO annotation file.

    Args:
        ann_file: path of the COCO JSON.
        img_dir: folder of the images; ``None`` skips the image checks.
        classes: class names in label order (matched case-insensitively).
        check_images: open every image header to check it exists, is
            readable and has the declared size.

    Returns:
        CocoSplit: the validated, normalised split.

    Raises:
        InputError: on the first problem, naming file and record.
    """
    data = _read_json(ann_file)
    cat_ids, cat_to_label, unused = _match_categories(ann_file,
                                                      data['categories'],
                                                      classes)
    images = _check_images(ann_file, data['images'],
                           img_dir if check_images else None)
    anns_by_image = _check_annotations(ann_file, data['annotations'], images,
                                       cat_to_label, unused, classes)
    return CocoSplit(
        ann_file=ann_file,
        img_dir=img_dir,
        classes=tuple(classes),
        cat_ids=cat_ids,
        images=images,
        anns_by_image=anns_by_image,
        ignored_categories=sorted(unused.values()))


def _fail(ann_file: str, msg: str):
    raise InputError(f'{ann_file}: {msg}')


def _is_id(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _read_json(ann_file: str) -> dict:
    """The file's top-level object, with its three lists."""
    if not osp.isfile(ann_file):
        raise InputError(
            f'{ann_file}: annotation file not found (a split needs '
            f'{ANN_RELPATH} and {IMG_RELDIR}/)')
    try:
        with open(ann_file, encoding='utf-8') as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        _fail(ann_file, f'invalid JSON at line {e.lineno} column {e.colno}: '
              f'{e.msg}')
    except (OSError, UnicodeDecodeError) as e:
        _fail(ann_file, f'cannot read file: {e}')
    if not isinstance(data, dict):
        _fail(
            ann_file, 'top level must be a JSON object with images, '
            'annotations and categories')
    for key in ('images', 'annotations', 'categories'):
        if key not in data:
            _fail(ann_file, f'missing "{key}" list')
        if not isinstance(data[key], list):
            _fail(
                ann_file, f'"{key}" must be a list, got '
                f'{type(data[key]).__name__}')
    return data


def _match_categories(
    ann_file: str, categories: list, classes: Sequence[str]
) -> Tuple[List[int], Dict[int, int], Dict[int, str]]:
    """Classes matched to categories by name: the category id of each class
    (label order), category id -> label, and the unused categories (id ->
    name)."""
    wanted = {name.lower(): label for label, name in enumerate(classes)}
    cat_to_label: Dict[int, int] = {}
    unused: Dict[int, str] = {}
    cat_ids: List[Optional[int]] = [None] * len(classes)
    for i, cat in enumerate(categories):
        if not isinstance(cat, dict) or 'id' not in cat or not isinstance(
                cat.get('name'), str):
            _fail(ann_file,
                  f'categories[{i}]: needs "id" and "name", got {cat!r}')
        cid, name = cat['id'], cat['name']
        if not _is_id(cid):
            _fail(
                ann_file, f'categories[{i}] ("{name}"): id must be an '
                f'integer, got {cid!r}')
        if cid in cat_to_label or cid in unused:
            _fail(
                ann_file, f'categories[{i}] ("{name}"): duplicate category '
                f'id {cid}')
        label = wanted.get(name.strip().lower())
        if label is None:
            unused[cid] = name
            continue
        if cat_ids[label] is not None:
            _fail(
                ann_file, f'categories[{i}]: a second category named '
                f'"{name}" (ids {cat_ids[label]} and {cid})')
        cat_ids[label] = cid
        cat_to_label[cid] = label
    for label, cid in enumerate(cat_ids):
        if cid is None:
            _fail(
                ann_file, f'no category named "{classes[label]}" in '
                f'categories (found: {[c.get("name") for c in categories]})')
    return cat_ids, cat_to_label, unused


def _check_images(ann_file: str, records: list,
                  img_dir: Optional[str]) -> List[dict]:
    """The image records (``id``, ``file_name``, ``width``, ``height``);
    with ``img_dir``, each file exists, is readable and has its size."""
    images: List[dict] = []
    seen: Dict[int, int] = {}
    cache = ImageCache(ann_file) if img_dir is not None else None
    for i, img in enumerate(records):
        if not isinstance(img, dict):
            _fail(ann_file, f'images[{i}]: must be an object, got {img!r}')
        for key in ('id', 'file_name', 'width', 'height'):
            if key not in img:
                _fail(ann_file,
                      f'images[{i}] (id={img.get("id")!r}): missing "{key}"')
        iid = img['id']
        if not _is_id(iid):
            _fail(ann_file, f'images[{i}]: id must be an integer, got '
                  f'{iid!r}')
        if iid in seen:
            _fail(
                ann_file, f'images[{i}] ("{img["file_name"]}"): duplicate '
                f'image id {iid} (also images[{seen[iid]}])')
        seen[iid] = i
        w, h = img['width'], img['height']
        if not (_is_number(w) and _is_number(h) and w > 0 and h > 0):
            _fail(
                ann_file, f'images[{i}] (id={iid}): width and height must '
                f'be positive numbers, got {w!r} x {h!r}')
        if img_dir is not None:
            _check_image_file(ann_file, f'images[{i}] (id={iid})',
                              osp.join(img_dir, img['file_name']), w, h, cache)
        images.append(
            dict(id=iid, file_name=img['file_name'], width=w, height=h))
    if cache is not None:
        cache.save()
    if not images:
        _fail(ann_file, 'empty split: "images" holds no image')
    return images


def _check_image_file(ann_file: str, where: str, path: str, w, h,
                      cache: ImageCache) -> None:
    if not osp.isfile(path):
        _fail(ann_file, f'{where}: image file not found: {path}')
    try:
        size = cache.size_of(path)
    except Exception as e:  # PIL raises several types
        _fail(
            ann_file, f'{where}: unreadable image {path} (cut short or '
            f'corrupt): {type(e).__name__}: {e}')
    if tuple(size) != (int(w), int(h)):
        _fail(
            ann_file, f'{where}: {path} is {size[0]}x{size[1]} but the '
            f'JSON says {w}x{h}')


def _check_annotations(ann_file: str, records: list, images: List[dict],
                       cat_to_label: Dict[int, int], unused: Dict[int, str],
                       classes: Sequence[str]) -> Dict[int, List[dict]]:
    """Image id -> its annotations, each with ``bbox`` (xywh clipped to the
    image), ``label``, ``category_id``, ``iscrowd`` and ``area``."""
    anns_by_image: Dict[int, List[dict]] = {img['id']: [] for img in images}
    size_of = {img['id']: (img['width'], img['height']) for img in images}
    seen = set()
    for i, ann in enumerate(records):
        if not isinstance(ann, dict):
            _fail(ann_file, f'annotations[{i}]: must be an object, got '
                  f'{ann!r}')
        aid = ann.get('id')
        where = f'annotations[{i}] (id={aid!r})'
        for key in ('id', 'image_id', 'category_id', 'bbox'):
            if key not in ann:
                _fail(ann_file, f'{where}: missing "{key}"')
        if aid in seen:
            _fail(ann_file, f'{where}: duplicate annotation id {aid}')
        seen.add(aid)
        if ann['image_id'] not in size_of:
            _fail(ann_file, f'{where}: image_id {ann["image_id"]!r} is not '
                  'in images')
        cid = ann['category_id']
        if cid not in cat_to_label:
            if cid in unused:
                _fail(
                    ann_file, f'{where}: unknown category "{unused[cid]}" '
                    f'(id {cid}); only {list(classes)} are trained')
            _fail(ann_file, f'{where}: unknown category id {cid!r}')
        clipped = _clipped_box(ann_file, where, ann['bbox'],
                               *size_of[ann['image_id']], ann['image_id'])
        anns_by_image[ann['image_id']].append(
            dict(
                bbox=clipped,
                label=cat_to_label[cid],
                category_id=cid,
                iscrowd=int(bool(ann.get('iscrowd', 0))),
                # COCO's area is the object's (mask) area where given.
                area=float(ann['area']) if _is_number(ann.get('area')) else
                float(clipped[2] * clipped[3])))
    return anns_by_image


def _clipped_box(ann_file: str, where: str, bbox, img_w, img_h,
                 image_id) -> List[float]:
    """``bbox`` checked (4 numbers, positive size, inside the image up to
    ``BOX_TOLERANCE``) and clipped to the image."""
    if not (isinstance(bbox, list) and len(bbox) == 4
            and all(_is_number(v) for v in bbox)):
        _fail(
            ann_file, f'{where}: bbox must be 4 numbers [x, y, w, h], '
            f'got {bbox!r}')
    x, y, w, h = bbox
    if w <= 0 or h <= 0:
        _fail(ann_file,
              f'{where}: bbox {bbox} has non-positive width or height')
    if (x < -BOX_TOLERANCE or y < -BOX_TOLERANCE
            or x + w > img_w + BOX_TOLERANCE or y + h > img_h + BOX_TOLERANCE):
        _fail(
            ann_file, f'{where}: bbox {bbox} lies outside its '
            f'{img_w}x{img_h} image (id {image_id})')
    x1, y1 = max(x, 0.0), max(y, 0.0)
    x2, y2 = min(x + w, img_w), min(y + h, img_h)
    if x2 <= x1 or y2 <= y1:
        _fail(ann_file, f'{where}: bbox {bbox} has no area inside its image')
    return [x1, y1, x2 - x1, y2 - y1]
