"""Start from COCO-trained DETR or DINO with its person and sports-ball
rows."""
import os
import os.path as osp
import re
import socket
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.runner.checkpoint import _load_checkpoint

from ..checkpoint.files import revise_keys, verify_checkpoint_file
from ..errors import InputError, error_line
from ..messages import tell_user

#: MMDetection's COCO-trained DETR R-50 (150 epochs, box AP 39.9).
#: COCO 2017 class order of mmdet's CocoDataset (80 classes).
DEFAULT_CLASS_MAP = {'player': 'person', 'ball': 'sports ball'}
#: tensors with one row per class: DETR's softmax classifier (a last
#: "no object" row besides), DINO's sigmoid classification branches (the
#: decoder layers' and the encoder's proposal branch) and its denoising
#: label embedding
CLASS_ROWS = re.compile(
    r'^(bbox_head\.fc_cls|bbox_head\.cls_branches\.\d+|'
    r'dn_query_generator\.label_embedding)\.(weight|bias)$')
#: seconds a stalled connection may stay silent while downloading
DOWNLOAD_TIMEOUT = 30
#: set to 0 to skip the COCO start (offline machines, test suites)
ENV_SWITCH = 'FIELD_DETR_COCO_START'


def transplant_state_dict(
        source: Dict[str,
                     torch.Tensor], target: Dict[str,
                                                 torch.Tensor], target_classes,
        source_classes, class_map: Dict[str, str]) -> Dict[str, torch.Tensor]:
    """A state dict for ``target`` built from a COCO-trained ``source``.

    Every tensor with one row per class (:data:`CLASS_ROWS`) gets, for each
    target class, the row of the source class ``class_map`` names; a softmax
    classifier (DETR's ``bbox_head.fc_cls``: a row per class and a last "no
    object" row) keeps its no-object row last, sigmoid ones (DINO's) have
    none. Every other weight is copied; a key missing from the source or of
    another shape keeps the target's value.
    """
    rows = [source_classes.index(class_map[c]) for c in target_classes]
    out = {}
    for key, value in target.items():
        src = source.get(key)
        if src is not None and CLASS_ROWS.match(key):
            background = list(range(len(source_classes), src.shape[0]))
            idx = torch.tensor(rows + background)
            out[key] = src.index_select(0, idx).to(value.dtype)
        elif src is not None and src.shape == value.shape:
            out[key] = src.to(value.dtype)
        else:
            out[key] = value
    return out


def transplant_coco_head(model: torch.nn.Module,
                         checkpoint: str,
                         classes,
                         class_map: Dict[str, str],
                         source_classes=None) -> Tuple[int, List[str]]:
    """Load ``checkpoint`` (path or URL) into ``model`` with
    :func:`transplant_state_dict`; return how many tensors came from it and
    the keys it does not have (new to the model, such as the ball head's:
    they keep their initialisation)."""
    if source_classes is None:
        from mmdet.datasets import CocoDataset
        source_classes = list(CocoDataset.METAINFO['classes'])
    if osp.isfile(checkpoint):
        verify_checkpoint_file(checkpoint)
    previous = socket.getdefaulttimeout()
    # a dead network fails instead of hanging
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
    try:
        ckpt = _load_checkpoint(checkpoint, map_location='cpu')
    finally:
        socket.setdefaulttimeout(previous)
    source = revise_keys(ckpt.get('state_dict', ckpt))
    target = model.state_dict()
    new = transplant_state_dict(source, target, list(classes),
                                list(source_classes), class_map)
    model.load_state_dict(new)
    return (sum(1 for k in target
                if k in source), [k for k in target if k not in source])


def coco_start_checkpoint(cfg,
                          checkpoint: Optional[str] = None) -> Optional[str]:
    """The checkpoint a run's COCO start loads: the hook's own, else the
    config's ``coco_checkpoint``; None when the config has no
    ``CocoTransplantHook`` or names no checkpoint."""
    for hook in cfg.get('custom_hooks') or []:
        if hook.get('type') == 'CocoTransplantHook':
            checkpoint = checkpoint or hook.get('checkpoint')
            return checkpoint or cfg.get('coco_checkpoint')
    return None


@HOOKS.register_module()
class CocoTransplantHook(Hook):
    """Initialise the model from COCO-trained DETR (or DINO, with
    ``checkpoint`` a COCO DINO checkpoint) before training starts.

    COCO already has ``person`` and ``sports ball``: their classifier rows
    (DETR's, with its no-object row; DINO's in every classification branch
    and in the denoising label embedding) become the player and ball rows,
    and every other weight (backbone, transformer, box head, queries) is
    copied, so epoch 0 already detects both classes. Skipped when the run
    resumes or has a ``load_from``, or when the environment sets
    ``FIELD_DETR_COCO_START=0``.
    Weights the checkpoint does not have (the ball head's) keep their
    initialisation and are named as new in the log line.
    If the checkpoint cannot be read or fetched (a download that stalls for
    30 s fails), the run logs one warning and keeps its ImageNet or random
    initialisation.

    Args:
        checkpoint (str, optional): path or URL of an 80-class COCO DETR
            or DINO checkpoint. Defaults to the config's ``coco_checkpoint``
            (each model config names its family's: MMDetection's DETR R-50
            or DINO-4scale R-50); with neither, the hook does nothing.
        class_map (dict): target class -> COCO class name. Defaults to
            ``{'player': 'person', 'ball': 'sports ball'}``.
        source_classes (list[str], optional): the checkpoint's class order;
            defaults to COCO's 80 classes as mmdet orders them.
    """

    priority = 'VERY_HIGH'

    def __init__(self,
                 checkpoint: Optional[str] = None,
                 class_map: Optional[Dict[str, str]] = None,
                 source_classes: Optional[Sequence[str]] = None) -> None:
        self.checkpoint = checkpoint
        self.class_map = dict(class_map or DEFAULT_CLASS_MAP)
        self.source_classes = source_classes

    def before_train(self, runner) -> None:
        if runner.cfg.get('resume') or runner.cfg.get('load_from'):
            tell_user(
                'COCO head transplant skipped: the run starts from a '
                'checkpoint', runner.logger)
            return
        if os.environ.get(ENV_SWITCH, '1') == '0':
            tell_user(
                f'COCO head transplant skipped: {ENV_SWITCH}=0 in the '
                'environment', runner.logger)
            return
        checkpoint = self.checkpoint or runner.cfg.get('coco_checkpoint')
        if checkpoint is None:
            tell_user(
                'COCO head transplant skipped: the config names no '
                'coco_checkpoint for this model', runner.logger)
            return
        model = runner.model
        model = getattr(model, 'module', model)
        classes = runner.train_dataloader.dataset.metainfo['classes']
        try:
            n, new = transplant_coco_head(model, checkpoint, classes,
                                          self.class_map, self.source_classes)
        except InputError:  # a local file that is corrupt or unsafe
            raise
        except Exception as e:  # download, file or format problems
            reason = error_line(e)
            runner.logger.warning(
                f'COCO-pretrained start unavailable ({checkpoint}: '
                f'{type(e).__name__}: {reason}); training from the '
                'configured initialisation instead')
            return
        modules = sorted({key.split('.')[0] for key in new})
        fresh = f'; {len(new)} tensors new to this model, trained from ' \
            f'scratch: {", ".join(modules)}' if new else ''
        tell_user(
            f'initialised {n} tensors from {checkpoint}; classifier rows '
            f'{self.class_map} transplanted{fresh}', runner.logger)
