"""The errors field_detr reports in one line, and the command-line exit for
them.

Every tool wraps its ``main`` in :func:`exit_on_error`: a
:class:`FieldDetrError` prints ``error: <message>`` (one line naming the file
and, for data, the record) and exits with status 2; anything else is a bug
and keeps its traceback. Both have their credentials redacted
(:mod:`field_detr.redaction`).
"""
import sys
import traceback
from functools import wraps

from .redaction import redact


class FieldDetrError(Exception):
    """An error whose message is one line saying what and where; the
    command-line tools print it without a traceback."""


class InputError(FieldDetrError, ValueError):
    """Bad user input: a dataset, a path, a checkpoint or exported model."""


class ConfigError(FieldDetrError, ValueError):
    """A config value field_detr cannot honour."""


class TrainingStopped(FieldDetrError, RuntimeError):
    """Training cannot go on (a non-finite loss, CUDA out of memory, a
    checkpoint that cannot be written); the message says why and what to
    do."""


class Preempted(FieldDetrError):
    """Training stopped on a preemption signal (SIGTERM, SIGUSR1) after
    writing a checkpoint ``--resume`` continues from; the tools exit with
    :data:`EXIT_PREEMPTED`. The message is the line already logged."""


#: the exit status of a preempted training: ``EX_TEMPFAIL`` of
#: ``sysexits.h``, "try again later" (tools/slurm_job.sh requeues on it,
#: torchrun --max-restarts restarts on any failure)
EXIT_PREEMPTED = 75


def error_line(error: BaseException, default: str = '') -> str:
    """The last line of an exception's message, at most 200 characters
    (``default`` when it has none), credentials redacted: the cause in a
    one-line error."""
    text = redact(str(error)).strip()
    return text.splitlines()[-1][:200] if text else default


def error_message(error: FieldDetrError) -> str:
    """A :class:`FieldDetrError`'s one line. Raised in a DataLoader worker,
    it reaches the main process re-made by torch around the worker's
    traceback ("Caught InputError in DataLoader worker process 0. Original
    Traceback ..."): its own message is the traceback's last line."""
    text = redact(str(error)).strip()
    if 'Original Traceback' in text:
        last = text.splitlines()[-1]
        name = type(error).__name__ + ': '
        return last[last.index(name) + len(name):] if name in last else last
    return text


def exit_on_error(main):
    """Run ``main``; a :class:`FieldDetrError` prints one line and exits
    with status 2, :class:`Preempted` exits with :data:`EXIT_PREEMPTED`
    (its line is in the log already)."""

    @wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except Preempted:
            sys.exit(EXIT_PREEMPTED)
        except FieldDetrError as e:
            print(f'error: {error_message(e)}', file=sys.stderr)
            sys.exit(2)
        except Exception:  # a bug: its traceback, without credentials
            sys.stderr.write(redact(traceback.format_exc()))
            sys.exit(1)

    return wrapper
