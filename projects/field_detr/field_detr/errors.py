"""The errors field_detr reports in one line, and the command-line exit for
them.

Every tool wraps its ``main`` in :func:`exit_on_error`: a
:class:`FieldDetrError` prints ``error: <message>`` (one line naming the file
and, for data, the record) and exits with status 2; anything else is a bug
and keeps its traceback.
"""
import sys
from functools import wraps


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


def error_line(error: BaseException, default: str = '') -> str:
    """The last line of an exception's message, at most 200 characters
    (``default`` when it has none): the cause in a one-line error."""
    text = str(error).strip()
    return text.splitlines()[-1][:200] if text else default


def exit_on_error(main):
    """Run ``main``; a :class:`FieldDetrError` prints one line and exits
    with status 2."""

    @wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except FieldDetrError as e:
            print(f'error: {e}', file=sys.stderr)
            sys.exit(2)

    return wrapper
