"""COCO-format player/ball dataset with up-front validation."""
import os.path as osp
from typing import List, Optional

from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS
from mmengine.logging import print_log

from ..errors import InputError
from .image_files import read_whole_image
from .validation import load_coco_split

CLASSES = ('player', 'ball')


def unreadable(path: str) -> Optional[str]:
    """Why the image at ``path`` cannot be read whole; None if it can."""
    if not osp.isfile(path):
        return 'file not found'
    try:
        read_whole_image(path)
    except Exception as e:  # PIL raises several types
        return f'{type(e).__name__}: {e}'
    return None


@DATASETS.register_module()
class FieldCocoDataset(BaseDetDataset):
    """A split folder (``images/`` + ``annotations/annotations.json``).

    Unlike mmdet's ``CocoDataset`` it:

    * matches classes to categories by name, case-insensitively, whatever
      their ids and order (``CocoDataset`` maps labels by file order);
    * validates every record once, when the dataset is built, and stops with
      a :class:`~field_detr.errors.InputError` naming the file
      and the record (see :mod:`field_detr.datasets.validation` for the rules);
    * keeps every image and box: images without annotations stay, and boxes
      smaller than a pixel are not skipped;
    * an image that cannot be read any more when the pipeline loads it
      (deleted, replaced, cut short since the check) stops the run with an
      :class:`~field_detr.errors.InputError` naming it, raised from the
      data-loader worker, not the loader's traceback.

    Config example::

        dict(type='FieldCocoDataset', data_root='datasets/train',
             ann_file='annotations/annotations.json',
             data_prefix=dict(img='images/'), pipeline=[...])

    Args:
        check_images (bool): read every image whole during validation
            (cached by file size and time). Defaults to True.
        **kwargs: see :class:`mmdet.datasets.BaseDetDataset`.
    """

    METAINFO = dict(
        classes=CLASSES,
        # players green-ish, ball orange-ish in visualisations.
        palette=[(0, 200, 120), (255, 140, 0)])

    def __init__(self, *args, check_images: bool = True, **kwargs) -> None:
        self.check_images = check_images
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        split = load_coco_split(
            self.ann_file,
            img_dir=self.data_prefix.get('img', ''),
            classes=self.metainfo['classes'],
            check_images=self.check_images)
        if split.ignored_categories:
            print_log(
                f'{self.ann_file}: categories {split.ignored_categories} '
                'match no class and have no annotations; ignoring them',
                logger='current')
        self.split = split
        self._metainfo['cat_ids'] = list(split.cat_ids)
        data_list = []
        for img in split.images:
            instances = []
            for ann in split.anns_by_image[img['id']]:
                x, y, w, h = ann['bbox']
                instances.append(
                    dict(
                        bbox=[x, y, x + w, y + h],
                        bbox_label=ann['label'],
                        ignore_flag=ann['iscrowd']))
            data_list.append(
                dict(
                    img_path=osp.join(
                        self.data_prefix.get('img', ''), img['file_name']),
                    img_id=img['id'],
                    width=img['width'],
                    height=img['height'],
                    seg_map_path=None,
                    instances=instances))
        counts = split.class_counts()
        print_log(
            f'{self.ann_file}: {len(data_list)} images, '
            f'{split.num_annotations} boxes '
            f'({", ".join(f"{k}: {v}" for k, v in counts.items())})',
            logger='current')
        return data_list

    def prepare_data(self, idx):
        try:
            return super().prepare_data(idx)
        except Exception as e:
            path = self.get_data_info(idx)['img_path']
            problem = unreadable(path)
            if problem is None:  # the image is fine: not a data problem
                raise
            raise InputError(
                f'{path}: image unreadable during training ({problem}); '
                'restore it (or check the split again) and continue with '
                '--resume') from e

    def filter_data(self) -> List[dict]:
        """Keep every image: nothing is dropped silently."""
        return self.data_list


def _field_datasets(dataset: dict):
    """The ``FieldCocoDataset`` configs in a dataloader's dataset config,
    dataset wrappers (``RepeatDataset``, ``ConcatDataset``, ...) opened."""
    if not isinstance(dataset, dict):
        return
    if dataset.get('type') in ('FieldCocoDataset', FieldCocoDataset):
        yield dataset
    for key in ('dataset', 'datasets'):
        inner = dataset.get(key)
        for item in inner if isinstance(inner, (list, tuple)) else [inner]:
            yield from _field_datasets(item)


def check_splits(cfg, loaders=('train', 'val')) -> None:
    """Validate the splits of ``<loader>_dataloader`` for each loader the
    config runs, as the datasets will (same paths, classes and image
    checks), before anything else is created: a refused split leaves no
    work dir and no tracking run behind. The images read whole are
    remembered, so building the datasets afterwards reads none again."""
    for loader in loaders:
        if loader != 'train' and not cfg.get(f'{loader}_cfg'):
            continue
        dataloader = cfg.get(f'{loader}_dataloader')
        if not dataloader:
            continue
        for ds in _field_datasets(dataloader.get('dataset')):
            root = ds.get('data_root') or ''
            ann_file = ds.get('ann_file') or ''
            img_dir = (ds.get('data_prefix') or {}).get('img', '')
            if root and not osp.isabs(ann_file):
                ann_file = osp.join(root, ann_file)
            if root and not osp.isabs(img_dir):
                img_dir = osp.join(root, img_dir)
            load_coco_split(
                ann_file,
                img_dir=img_dir,
                classes=(ds.get('metainfo') or {}).get('classes', CLASSES),
                check_images=ds.get('check_images', True))
