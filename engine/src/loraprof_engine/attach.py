"""`python -m loraprof_engine.attach SOCKET RUNSPEC.json`: one run in a child of the zygote (zygote.py).

This process stands in for `python -m loraprof_engine RUNSPEC.json` towards the TS side: it hands its
stdin, stdout, stderr and fd 3 to the zygote's new child, forwards SIGTERM / SIGINT to it and exits with
its status (or dies of its signal). It imports nothing heavy, so it starts in tens of milliseconds.
When the zygote cannot be reached it says why on stderr and becomes the plain engine (exec).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from types import FrameType

from .errors import EXIT_USAGE

PASSED_FDS = (0, 1, 2, 3)


def plain_engine(spec: str, reason: str) -> None:
    sys.stderr.write(f"loraprof engine: zygote not used ({reason}); starting the engine in this process\n")
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "loraprof_engine", spec])


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m loraprof_engine.attach SOCKET RUNSPEC.json  (events on fd 3)", file=sys.stderr)
        return EXIT_USAGE
    path, spec = argv
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        request = {"argv": [spec], "cwd": str(Path.cwd()), "env": dict(os.environ)}
        socket.send_fds(conn, [(json.dumps(request) + "\n").encode("utf-8")], list(PASSED_FDS))
    except OSError as exc:
        conn.close()
        plain_engine(spec, f"{path}: {exc.strerror or exc}")
    reader = conn.makefile("r", encoding="utf-8")
    child: list[int] = []
    early: list[int] = []  # signals that came before the child's pid: forwarded once it is known

    def forward(signum: int, frame: FrameType | None) -> None:
        if not child:
            early.append(signum)
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child[0], signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for line in reader:
        message = json.loads(line)
        if "pid" in message:
            child.append(int(message["pid"]))
            for signum in early:
                forward(signum, None)
        elif "exit" in message:
            return int(message["exit"])
        elif "signal" in message:
            signum = int(message["signal"])
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)  # die of the child's signal, as the TS side would have seen it
            time.sleep(1)
            return 128 + signum
        elif "error" in message:
            plain_engine(spec, str(message["error"]))
    # The zygote died before reporting: wait for the child to end, its status is lost.
    while child and _alive(child[0]):
        time.sleep(0.2)
    sys.stderr.write("loraprof engine: the zygote exited before reporting the run's status\n")
    return 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
