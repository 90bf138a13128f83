"""`python -m loraprof_engine RUNSPEC.json`, with the event pipe on fd 3 and a stdin pipe from the parent."""

from __future__ import annotations

import sys

from .errors import EXIT_ERROR, EXIT_USAGE, classify
from .events import open_event_stream
from .process import install_sigterm_handler, watch_parent_via_stdin


def main(argv: list[str]) -> int:
    events = open_event_stream()  # exits 2 when fd 3 is not open: there is nobody to report to
    install_sigterm_handler()
    watch_parent_via_stdin()
    if len(argv) != 1:
        print("usage: python -m loraprof_engine RUNSPEC.json  (events on fd 3)", file=sys.stderr)
        return EXIT_USAGE
    try:
        # torch, transformers and peft load here; a missing one is a `dependency` error, not a traceback.
        from .recipe import run
    except Exception as exc:
        classified = classify(exc)
        print(f"loraprof engine: cannot start: {exc}", file=sys.stderr)
        events.emit(
            {
                "type": "error",
                "kind": classified.kind if classified.kind != "internal" else "dependency",
                "message": classified.message,
                "hint": classified.hint,
                "stage": "setup",
                "step": None,
                "memory": None,
                "traceback": None,
            }
        )
        return EXIT_ERROR
    return run(argv[0], events)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
