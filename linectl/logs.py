"""Logging for the daemon: JSON lines for the journal, readable lines on a terminal.

structlog renders everything, including records from the standard ``logging`` module (drivers,
aiohttp, pymodbus, asyncua), so one process writes one format. Tracebacks are rendered without
local variables: a secret in a local must never reach the log.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

import structlog
from structlog.typing import Processor

LEVEL_ENV = "LINECTL_LOG_LEVEL"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
NOISY_LIBRARIES = ("asyncua", "pymodbus", "aiohttp.access")
"""Chatty third-party loggers held at WARNING unless the level is DEBUG."""

_HANDLER_NAME = "linectl"


def resolve_level(level: str) -> int:
    """The level to use: ``$LINECTL_LOG_LEVEL`` if set (an operator's override), else ``level``."""
    from_env = os.environ.get(LEVEL_ENV, "").strip()
    chosen, source = (from_env, f"${LEVEL_ENV}") if from_env else (level, "the log level")
    name = chosen.upper()
    if name == "WARN":
        name = "WARNING"
    if name not in LEVELS:
        raise ValueError(f"{source} is {chosen!r}; expected one of: {', '.join(LEVELS)}")
    return int(getattr(logging, name))


def _shared_processors(json: bool) -> list[Processor]:
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if json:
        processors.append(structlog.processors.format_exc_info)
    return processors


def configure_logging(
    level: str = "INFO", *, json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Route structlog and stdlib logging to ``stream`` (default stderr) at ``level``.

    ``json=None`` chooses by the stream: JSON lines unless it is a terminal. Safe to call again
    (it replaces its own handler, and leaves handlers others installed alone).
    """
    out = sys.stderr if stream is None else stream
    isatty = getattr(out, "isatty", None)
    on_terminal = bool(callable(isatty) and isatty())
    if json is None:
        json = not on_terminal
    numeric = resolve_level(level)
    shared = _shared_processors(json)
    renderer: Processor
    if json:
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=on_terminal and not os.environ.get("NO_COLOR"),
            exception_formatter=structlog.dev.plain_traceback,
        )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(out)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(numeric if numeric <= logging.DEBUG else logging.WARNING)
    logging.captureWarnings(True)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,  # reconfigurable; loggers bound lazily,
    )
