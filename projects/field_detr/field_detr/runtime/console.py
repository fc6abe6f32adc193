"""A short console for a training run: progress, validation, warnings and
field_detr's own messages. MMEngine's full log (config dump, environment,
COCOeval tables...) stays in ``<work_dir>/<timestamp>/<timestamp>.log``.

    python tools/train.py CONFIG 2>&1 | python -m field_detr.runtime.console

Training lines become ``[train] epoch 2  iter 10/24  loss 4.812  eta
0:03:10``; validation lines ``[val] epoch 2  mAP 0.012  mAP@0.5 0.034
...``. Warnings, errors and tracebacks pass whole.
"""
import re
import sys
from typing import Iterable, Iterator, Optional

from ..messages import USER_LOGGER

LOG_LINE = re.compile(
    r'^(?:\d{4}/)?\d\d/\d\d \d\d:\d\d:\d\d - (?P<name>\S+) - '
    r'(?P<level>[A-Z]+) - (?P<msg>.*)$')
TRAIN = re.compile(r'Epoch\(train\)\s+\[(?P<epoch>\d+)\]\[\s*(?P<it>\d+)/'
                   r'(?P<n>\d+)\].*?eta: (?P<eta>\S+).*?\bloss: '
                   r'(?P<loss>[-\d.einf]+)')
VAL = re.compile(r'Epoch\(val\)\s+\[(?P<epoch>\d+)\]\[\s*\d+/\d+\]\s+'
                 r'(?P<metrics>coco/.*)')
METRIC = re.compile(r'(coco/\S+): (\S+)')
#: MMEngine warnings that say nothing about this run: its note to library
#: authors ("deprecated") and MLflowVisBackend's reminder, printed for every
#: tracking URI (the embedded SQLite store has no server)
QUIET = ('Please make sure that the mlflow server is running.', )
PY_WARNING = re.compile(r'^\S+:\d+: \w*Warning: ')

#: MMEngine's EarlyStoppingHook's INFO lines, why a run stopped early (the
#: project's own lines a user should see are logged as ``field_detr``,
#: field_detr/messages.py)
EARLY_STOPPING = ('the monitored metric did not improve', 'Stopping threshold')

#: (logged key, short name) shown for a validation round.
VAL_SUMMARY = (('coco/bbox_mAP', 'mAP'), ('coco/bbox_mAP_50', 'mAP@0.5'),
               ('coco/player_mAP_50', 'player AP@0.5'), ('coco/ball_mAP_50',
                                                         'ball AP@0.5'),
               ('coco/ball_recall_10px',
                'ball recall@10px'), ('coco/ball_f1_10px', 'ball F1@10px'))


class ConsoleFilter:
    """Turns a run's console output into the short one, line by line."""

    def __init__(self) -> None:
        self._keep_continuation = False
        self._traceback = False

    def __call__(self, line: str) -> Optional[str]:
        """The line to print for ``line`` (no newline), or None."""
        line = line.rstrip('\n')
        if self._traceback:
            return line
        if line.startswith('Traceback (most recent call last)'):
            self._traceback = True
            return line
        match = LOG_LINE.match(line)
        if match is None:
            if line.startswith(('error:', '[demo]')):
                return line
            if PY_WARNING.match(line):
                self._keep_continuation = False
                return None
            return line if self._keep_continuation and line.strip() \
                else None
        level, msg = match.group('level'), match.group('msg')
        self._keep_continuation = False
        if level == 'WARNING' and ('deprecated' in msg or msg in QUIET):
            return None
        if level in ('WARNING', 'ERROR', 'CRITICAL'):
            self._keep_continuation = True
            return f'{level.lower()}: {msg}'
        train = TRAIN.search(msg)
        if train:
            return (f'[train] epoch {train["epoch"]}  iter {train["it"]}/'
                    f'{train["n"]}  loss {float(train["loss"]):.3f}  eta '
                    f'{train["eta"]}')
        val = VAL.search(msg)
        if val:
            metrics = dict(METRIC.findall(val['metrics']))
            shown = [
                f'{name} {float(metrics[key]):.3f}'
                for key, name in VAL_SUMMARY if key in metrics
            ]
            return f'[val] epoch {val["epoch"]}  ' + '  '.join(shown)
        if match.group('name') == USER_LOGGER or msg.startswith(
                EARLY_STOPPING):
            return msg
        return None


def filter_lines(lines: Iterable[str]) -> Iterator[str]:
    keep = ConsoleFilter()
    for line in lines:
        out = keep(line)
        if out is not None:
            yield out


def main() -> None:
    for line in filter_lines(sys.stdin):
        print(line, flush=True)


if __name__ == '__main__':
    main()
