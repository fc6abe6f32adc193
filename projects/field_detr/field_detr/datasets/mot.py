"""MOTChallenge text, the format tracking tools read and write (TrackEval,
Roboflow's ``trackers``): one ``frame,id,x,y,w,h,conf,class,visibility``
row a box, frames from 1, one file per class here."""
from typing import Iterable, Sequence

#: the class column of the project's two classes
PLAYER, BALL = 1, 2


def write_mot(path: str, rows: Iterable[Sequence]) -> None:
    """MOTChallenge text: one ``frame,id,x,y,w,h,conf,class,visibility`` row
    a box (``rows`` of those nine values)."""
    with open(path, 'w') as f:
        for frame, tid, x, y, bw, bh, conf, cls, vis in rows:
            f.write(f'{int(frame)},{int(tid)},{x:.2f},{y:.2f},{bw:.2f},'
                    f'{bh:.2f},{conf:.4f},{int(cls)},{vis:g}\n')
