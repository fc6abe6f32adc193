"""Video files read frame by frame and in batches, and a file that is not
a video refused with one line."""
import numpy as np
import pytest

from field_detr.datasets.video_files import (frames, read_frames, video_info,
                                             video_writer)
from field_detr.errors import InputError


def write_video(path, count, size=(64, 48)):
    """A clip whose frame ``t`` is grey level ``20 * t`` (recoverable
    through the codec's loss)."""
    writer = video_writer(str(path), 25, size)
    for t in range(count):
        writer.write(np.full((size[1], size[0], 3), 20 * t, np.uint8))
    writer.release()


def test_frames_in_order_and_in_batches(tmp_path):
    path = tmp_path / 'clip.mp4'
    write_video(path, 7)
    levels = [round(float(f.mean()) / 20) for f in frames(str(path))]
    assert levels == list(range(7))
    batches = list(read_frames(str(path), 3))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert all(f.shape == (48, 64, 3) for b in batches for f in b)
    fps, count, size = video_info(str(path))
    assert (fps, count, size) == (25, 7, (64, 48))


@pytest.mark.parametrize('content', [None, b'not a video at all'])
def test_a_file_that_is_not_a_video_is_refused_with_its_name(
        tmp_path, content):
    path = tmp_path / 'match.mp4'
    if content is not None:
        path.write_bytes(content)
    for read in (lambda p: next(frames(p)), lambda p: next(read_frames(p, 2)),
                 video_info):
        with pytest.raises(InputError) as err:
            read(str(path))
        assert str(err.value) == f'{path}: cannot open video'


def test_a_video_that_cannot_be_written_is_refused_with_its_name(tmp_path):
    path = tmp_path / 'no such folder' / 'out.mp4'
    with pytest.raises(InputError) as err:
        video_writer(str(path), 25, (64, 48))
    assert str(err.value) == f'{path}: cannot write video'
