"""Image files read to their last byte, and the record of those already
read whole (so the next check of a split reads them no more)."""
import contextlib
import json
import os
import os.path as osp
from typing import Dict


def read_whole_image(path: str) -> tuple:
    """(width, height) of an image read to its last byte; raises (OSError,
    PIL's errors) when it is cut short or corrupt.

    A JPEG is decoded at 1/8 scale (libjpeg's DCT scaling still reads
    every scan: ~8 ms for a 1080p frame against ~23 ms whole); a PNG's
    chunks are read with their CRCs up to ``IEND`` (``verify``); other
    formats are decoded whole."""
    from PIL import Image, ImageFile
    truncated_ok = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with Image.open(path) as im:
            size = im.size
            if im.format == 'JPEG':
                im.draft('RGB', (max(1, size[0] // 8), max(1, size[1] // 8)))
                im.load()
            elif im.format == 'PNG':
                im.verify()
            else:
                im.load()
        return size
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated_ok


#: file name of the checked-image cache, in a split's annotations folder
IMAGE_CACHE_NAME = '.image_check_cache.json'
#: path -> (bytes, mtime_ns, width, height) of images read whole here
_READ_WHOLE: Dict[str, tuple] = {}


class ImageCache:
    """The images of a split already read whole, by absolute path, file
    size and modification time: in this process and in a JSON file beside
    the annotations (kept only if that folder is writable)."""

    def __init__(self, ann_file: str) -> None:
        self.path = osp.join(
            osp.dirname(osp.abspath(ann_file)), IMAGE_CACHE_NAME)
        self.entries: Dict[str, list] = {}
        self.changed = False
        try:
            with open(self.path, encoding='utf-8') as f:
                data = json.load(f)
            if data.get('version') == 1:
                self.entries = dict(data['images'])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass  # no cache yet, or one to rebuild

    def size_of(self, path: str) -> tuple:
        """(width, height) of the whole image at ``path``, read only if it
        is new or changed since it was last read."""
        path = osp.abspath(path)
        stat = os.stat(path)
        key = [stat.st_size, stat.st_mtime_ns]
        known = _READ_WHOLE.get(path) or self.entries.get(path)
        if known is not None and list(known[:2]) == key:
            size = tuple(known[2:])
        else:
            size = read_whole_image(path)
        _READ_WHOLE[path] = (*key, *size)
        if self.entries.get(path) != [*key, *size]:
            self.entries[path] = [*key, *size]
            self.changed = True
        return size

    def save(self) -> None:
        if not self.changed:
            return
        tmp = f'{self.path}.{os.getpid()}.tmp'
        try:
            with open(tmp, 'w', encoding='utf-8') as f:
                json.dump(dict(version=1, images=self.entries), f)
            os.replace(tmp, self.path)
        except OSError:  # a read-only dataset: checked again next time
            with contextlib.suppress(OSError):
                os.remove(tmp)
