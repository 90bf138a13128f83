"""`python -m loraprof_engine RUNSPEC.json`, with the event pipe on fd 3 and a stdin pipe from the parent."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .distributed import keep_event_pipe, world_from_env
from .errors import EXIT_USAGE, EngineError, classify, exit_code_for
from .events import EventStream, open_event_stream
from .process import install_sigterm_handler, watch_parent_via_stdin
from .spec import load_runspec


def main(argv: list[str]) -> int:
    world = world_from_env()  # a data-parallel run under torchrun: only rank 0 reports
    keep_event_pipe(world)
    # exits 2 when fd 3 is not open: there is nobody to report to
    events = open_event_stream() if world.rank == 0 else EventStream(Path(os.devnull).open("w"))  # noqa: SIM115
    install_sigterm_handler()
    watch_parent_via_stdin()
    if len(argv) != 1:
        print("usage: python -m loraprof_engine RUNSPEC.json  (events on fd 3)", file=sys.stderr)
        return EXIT_USAGE
    try:
        # The RunSpec is checked before the heavy imports, so a bad one fails in milliseconds.
        spec = load_runspec(argv[0])
        # torch, transformers and peft load here; a missing one is a `dependency` error, not a traceback.
        started = time.perf_counter()
        from .recipe import run

        import_seconds = time.perf_counter() - started
    except Exception as exc:
        return setup_failure(exc, events)
    return run(spec, events, import_seconds)


def setup_failure(exc: Exception, events: EventStream) -> int:
    classified = classify(exc)
    kind = classified.kind
    if kind == "internal" and not isinstance(exc, EngineError):
        kind = "dependency"  # an import that fails other than by ImportError: a broken install
    print(f"loraprof engine: {kind} error during setup: {classified.message}", file=sys.stderr)
    events.emit(
        {
            "type": "error",
            "kind": kind,
            "message": classified.message,
            "hint": classified.hint,
            "stage": "setup",
            "step": None,
            "memory": None,
            "traceback": None,
        }
    )
    return exit_code_for(kind)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
