"""How the engine process ends when it is not the one deciding: SIGTERM, or its parent dying."""

from __future__ import annotations

import os
import signal
import stat
import sys
import threading
from types import FrameType

from .errors import EXIT_PARENT_GONE, EXIT_SIGTERM


def install_sigterm_handler() -> None:
    """SIGTERM (a cancel from the TS side) exits at once with 143, without a traceback.

    os._exit skips interpreter teardown on purpose: tearing down CUDA state and library atexit hooks can
    take seconds or hang; the OS reclaims the device memory with the process.
    """

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        try:
            sys.stderr.write("loraprof engine: SIGTERM received, exiting\n")
            sys.stderr.flush()
        finally:
            os._exit(EXIT_SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)


def watch_parent_via_stdin() -> bool:
    """Exit when stdin reaches EOF, i.e. when the TS side that holds its write end died.

    Only when stdin is a pipe: run by hand (a terminal, /dev/null) there is no parent to watch.
    Returns whether the watch was started.
    """
    try:
        is_pipe = stat.S_ISFIFO(os.fstat(0).st_mode)
    except OSError:
        return False
    if not is_pipe:
        return False

    def watch() -> None:
        try:
            while os.read(0, 4096):
                pass  # the TS side sends nothing; anything it does send is ignored
        except OSError:
            pass
        try:
            sys.stderr.write("loraprof engine: parent process gone (stdin closed), exiting\n")
            sys.stderr.flush()
        finally:
            os._exit(EXIT_PARENT_GONE)

    threading.Thread(target=watch, name="loraprof-parent-watch", daemon=True).start()
    return True
