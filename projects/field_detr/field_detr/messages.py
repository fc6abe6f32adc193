"""The lines a user should see while a run trains.

MMEngine's log holds everything (config dump, environment, COCOeval
tables); the demo's short console (``runtime/console.py``) shows progress,
validation rounds, warnings and the lines logged here. ``tell_user`` logs
through MMEngine's current logger, so the line reaches its console and its
log file like any other, under the logger name ``field_detr`` instead of
``mmengine``: that name is the mark the short console keeps, wherever the
line was logged.
"""
import logging
from typing import Optional

from mmengine.logging import MMLogger

#: the logger name of the lines a user should see
USER_LOGGER = 'field_detr'


def tell_user(message: str,
              logger: Optional[logging.Logger] = None,
              level: int = logging.INFO) -> None:
    """Log ``message`` for the user (``logger``: the runner's, else
    MMEngine's current one)."""
    logger = logger or MMLogger.get_current_instance()
    if not logger.isEnabledFor(level):
        return
    record = logger.makeRecord(USER_LOGGER, level, __file__, 0, message, None,
                               None)
    logger.handle(record)
