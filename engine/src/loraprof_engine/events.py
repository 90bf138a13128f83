"""The event stream: one JSON object per line on file descriptor 3 (schema: engine/schema/event.schema.json).

stdout is never used, so a library that prints cannot corrupt the stream; stderr is the engine's log.
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
from typing import Any, TextIO

from .errors import EXIT_PARENT_GONE, EXIT_USAGE

EVENT_FD = 3

Event = dict[str, Any]


class EventStream:
    """Writes events as JSON lines; line buffered, so each event reaches the reader as it happens."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def emit(self, event: Event) -> None:
        line = json.dumps(event, allow_nan=False, separators=(",", ":"))
        try:
            self._out.write(line + "\n")
            self._out.flush()
        except (BrokenPipeError, ValueError):
            # The reader is gone (the TS side died or closed the pipe): nobody is left to report to.
            os._exit(EXIT_PARENT_GONE)


def open_event_stream(fd: int = EVENT_FD) -> EventStream:
    """Open fd 3 for events, or exit 2 with a message on stderr when the caller did not provide it."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        mode = None
    if mode is None or not (stat.S_ISFIFO(mode) or stat.S_ISREG(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
        print(
            f"loraprof engine: file descriptor {fd} is not open. The engine writes its events there; "
            f"it is started by `loraprof run`. To run it by hand: "
            f"python -m loraprof_engine RUNSPEC.json {fd}>events.jsonl",
            file=sys.stderr,
        )
        sys.exit(EXIT_USAGE)
    os.set_inheritable(fd, False)  # worker processes some libraries spawn must not hold the pipe open
    return EventStream(os.fdopen(fd, "w", buffering=1, encoding="utf-8"))


def finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: a non-finite measurement is reported as null."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)
