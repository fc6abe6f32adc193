"""COCO-format player/ball dataset with up-front validation."""
import os.path as osp
from typing import List

from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS
from mmengine.logging import print_log

from .validation import load_coco_split

CLASSES = ('player', 'ball')


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
      smaller than a pixel are not skipped.

    Config example::

        dict(type='FieldCocoDataset', data_root='datasets/train',
             ann_file='annotations/annotations.json',
             data_prefix=dict(img='images/'), pipeline=[...])

    Args:
        check_images (bool): open every image header during validation.
            Defaults to True.
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

    def filter_data(self) -> List[dict]:
        """Keep every image: nothing is dropped silently."""
        return self.data_list
