"""`python -m loraprof_engine.launch N RUNSPEC.json`: the engine on N data-parallel ranks under torchrun.

This is torchrun (torch.distributed.run, --standalone) with one change: its workers keep fd 3, the event
pipe the TS side gave this process (torchrun closes every descriptor above 2 in its workers, and the TS
side's pipe is a socket, which cannot be reopened through /proc). Rank 0 reports on it; the other ranks
close it (distributed.py).
"""

from __future__ import annotations

import functools
import subprocess
import sys

from .errors import EXIT_USAGE
from .events import EVENT_FD


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[0].isdigit() or int(argv[0]) < 1:
        print("usage: python -m loraprof_engine.launch NPROC_PER_NODE RUNSPEC.json  (events on fd 3)", file=sys.stderr)
        return EXIT_USAGE
    from torch.distributed.elastic.multiprocessing.subprocess_handler import subprocess_handler
    from torch.distributed.run import main as torchrun

    # The worker Popen of torch's elastic agent (looked up by name in that module at each start).
    subprocess_handler.Popen = functools.partial(subprocess.Popen, pass_fds=(EVENT_FD,))  # type: ignore[attr-defined,misc,assignment]
    torchrun(["--standalone", f"--nproc-per-node={argv[0]}", "-m", "loraprof_engine", argv[1]])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
