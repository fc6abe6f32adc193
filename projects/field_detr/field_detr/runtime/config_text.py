"""MMEngine's ``Config.pretty_text`` without formatting the same text twice.

``pretty_text`` runs yapf over the whole config (about a second of CPU for
the project's configs), and a training asks for it many times: the Runner
logs and dumps the config, each checkpoint stores it in its ``meta``, the
runtime-info hook and both visualisation backends record it. The text is
the same each time unless the config changed. :func:`memoise_config_text`
gives MMEngine's config module a ``FormatCode`` that remembers its last
answers: the same input text and style give the same output, computed
once; any change in the config changes the input and is formatted anew.
"""
from collections import OrderedDict
from typing import Callable

_KEEP = 8  # texts remembered (a config is ~20 KB)


class MemoisedFormatCode:
    """``FormatCode(text, **kwargs)`` with its last ``_KEEP`` answers
    remembered, keyed by the text and the arguments."""

    def __init__(self, format_code: Callable) -> None:
        self.format_code = format_code
        self.answers: OrderedDict = OrderedDict()

    def __call__(self, text: str, **kwargs):
        key = (text, repr(sorted(kwargs.items())))
        if key in self.answers:
            self.answers.move_to_end(key)
            return self.answers[key]
        answer = self.format_code(text, **kwargs)
        self.answers[key] = answer
        if len(self.answers) > _KEEP:
            self.answers.popitem(last=False)
        return answer


def memoise_config_text() -> None:
    """Install :class:`MemoisedFormatCode` in ``mmengine.config.config``
    (once; importing ``field_detr`` does it)."""
    from mmengine.config import config
    if not isinstance(config.FormatCode, MemoisedFormatCode):
        config.FormatCode = MemoisedFormatCode(config.FormatCode)
