"""A pre-imported engine parent: `python -m loraprof_engine.zygote SOCKET`.

It imports torch, transformers and PEFT (and bitsandbytes / Liger when installed) once, then forks one
child per run, so a run starts without paying the imports again while staying its own process: its own
CUDA context (the zygote never touches CUDA, which cannot survive a fork), its own crash, its own memory
figures. The child gets the caller's stdin, stdout, stderr and event pipe (fd 3) through the socket
(SCM_RIGHTS), so it reports exactly as `python -m loraprof_engine` does. The caller is `attach.py`, a
tiny process that stands in for the engine towards the TS side: its exit status is the child's, and
SIGTERM / SIGINT sent to it go to the child.

Protocol on the socket, one JSON object per line: attach → zygote {"argv": [...], "cwd": ..., "env": {...}}
with fds 0-3 attached; the child → attach {"pid": N}; the zygote → attach {"exit": code} or {"signal": n}.
The zygote prints {"ready": ...} on stdout once it listens, and exits when its stdin closes (its owner died).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .errors import EXIT_PARENT_GONE, EXIT_USAGE

PASSED_FDS = 4  # stdin (parent-death watch), stdout, stderr (the log), fd 3 (events)
OPTIONAL_MODULES = ("bitsandbytes", "liger_kernel.transformers")
MESSAGE_LIMIT = 1 << 20


# torch.cuda.is_available() and device_count() through NVML: the CUDA runtime's device count starts the
# driver (cuInit) and registers torch's fork poisoning, so every forked run would fail to start CUDA.
NVML_CUDA_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"


def _nvml_capability(real: Any) -> Any:
    """torch.cuda.get_device_capability answered by NVML (no CUDA context), for imports that ask for it:
    bitsandbytes picks its native library by compute capability when it is imported. Falls back to
    `real` (which starts CUDA, and is then reported) when NVML cannot answer."""
    import torch

    def capability(device: Any = None) -> tuple[int, int]:
        try:
            import pynvml

            if isinstance(device, torch.cuda.device):
                index = max(int(device.idx), 0)
            elif isinstance(device, int):
                index = device
            elif device is None:
                index = 0
            else:
                index = torch.device(device).index or 0
            visible: Any = torch.cuda._parse_visible_devices()
            if visible and isinstance(visible[0], str):
                uuids = torch.cuda._raw_device_uuid_nvml()
                if uuids is None:
                    raise RuntimeError("no device UUIDs from NVML")
                visible = torch.cuda._transform_uuid_to_ordinals(visible, uuids)
            pynvml.nvmlInit()
            try:
                handle = pynvml.nvmlDeviceGetHandleByIndex(int(visible[index]))
                major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
            finally:
                pynvml.nvmlShutdown()  # leave NVML as it was: the forked runs open their own
            return int(major), int(minor)
        except Exception:
            answer: tuple[int, int] = real(device)
            return answer

    return capability


@contextlib.contextmanager
def cuda_kept_cold(culprits: list[str]) -> Any:
    """Within: device queries answered by NVML, and any CUDA initialization recorded with the module whose
    code asked for it (the innermost non-torch module on the stack), so the zygote can say what started it."""
    import torch

    os.environ.setdefault(NVML_CUDA_CHECK, "1")
    real_init, real_capability = torch.cuda._lazy_init, torch.cuda.get_device_capability

    def recording_init() -> None:
        if not torch.cuda.is_initialized():
            frame = sys._getframe(1)
            while frame is not None and str(frame.f_globals.get("__name__", "")).startswith(("torch", "importlib")):
                frame = frame.f_back  # type: ignore[assignment]
            culprits.append(str(frame.f_globals.get("__name__", "?")) if frame is not None else "?")
        real_init()

    torch.cuda._lazy_init = recording_init
    torch.cuda.get_device_capability = _nvml_capability(real_capability)
    try:
        yield
    finally:
        torch.cuda._lazy_init, torch.cuda.get_device_capability = real_init, real_capability


def fork_poisoned() -> bool:
    """Whether a forked child would find CUDA unusable (torch marks its children when the parent started
    the CUDA driver): checked in a throwaway child, as the runs will be forked."""
    import torch

    pid = os.fork()
    if pid == 0:
        os._exit(1 if torch.cuda._is_in_bad_fork() else 0)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) != 0


def preload() -> dict[str, Any]:
    """Import what every run imports. Optional modules are imported when present; none may start CUDA."""
    started = time.perf_counter()
    importlib.import_module("torch")
    culprits: list[str] = []
    optional: dict[str, bool] = {}
    with cuda_kept_cold(culprits):
        importlib.import_module("loraprof_engine.recipe")  # torch, transformers, PEFT, safetensors, numpy
        for name in OPTIONAL_MODULES:
            try:
                importlib.import_module(name)
                optional[name] = True
            except Exception:  # absent, or broken: the run that needs it reports the dependency error itself
                optional[name] = False
    import torch

    return {
        "importSeconds": time.perf_counter() - started,
        "optional": optional,
        "cudaInitialized": bool(torch.cuda.is_initialized()),
        "cudaInitializedBy": culprits[0] if culprits else None,
        "forkPoisoned": fork_poisoned(),
    }


def read_message(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, MESSAGE_LIMIT, PASSED_FDS)
    while data and not data.endswith(b"\n"):  # a long environment can arrive in several reads
        more = conn.recv(MESSAGE_LIMIT)
        if not more:
            break
        data += more
    return json.loads(data.decode("utf-8")), list(fds)


def send_line(conn: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        conn.sendall((json.dumps(message) + "\n").encode("utf-8"))


def become_run(listener: socket.socket, conn: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
    """In the forked child: take over the caller's descriptors and run the engine's main; never returns."""
    code = 1
    try:
        listener.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)  # dup2 makes the target inheritable; events.py marks fd 3 non-inheritable
            os.close(fd)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 (lives as long as the process)
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", closefd=False)  # noqa: SIM115
        os.setpgid(0, 0)  # a group of its own: attach signals the whole group (workers a library started)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        send_line(conn, {"pid": os.getpid()})
        watch_attach(conn)
        from .__main__ import main

        code = main(list(request["argv"]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # the child must end here, whatever happened
        with contextlib.suppress(Exception):
            print(f"loraprof engine: zygote child failed: {exc!r}", file=sys.stderr)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def watch_attach(conn: socket.socket) -> None:
    """The child exits when its attach process dies (SIGKILL cannot be forwarded): the socket closes."""

    def watch() -> None:
        with contextlib.suppress(OSError):
            while conn.recv(4096):
                pass
        with contextlib.suppress(Exception):
            sys.stderr.write("loraprof engine: attach process gone (socket closed), exiting\n")
            sys.stderr.flush()
        os._exit(EXIT_PARENT_GONE)

    threading.Thread(target=watch, name="loraprof-attach-watch", daemon=True).start()


def serve(path: str) -> int:
    ready = preload()
    with contextlib.suppress(FileNotFoundError):
        Path(path).unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    children: dict[int, socket.socket] = {}
    print(json.dumps({"ready": True, "pid": os.getpid(), **ready}), flush=True)
    try:
        while True:
            readable, _, _ = select.select([listener, sys.stdin], [], [], 0.2)
            reap(children)
            if sys.stdin in readable and not os.read(sys.stdin.fileno(), 4096):
                return 0  # the owner (the TS side) is gone; running children keep going on their own pipes
            if listener not in readable:
                continue
            conn, _ = listener.accept()
            try:
                request, fds = read_message(conn)
            except (OSError, ValueError) as exc:
                print(f"loraprof zygote: bad request: {exc}", file=sys.stderr, flush=True)
                conn.close()
                continue
            if len(fds) != PASSED_FDS:
                send_line(conn, {"error": f"expected {PASSED_FDS} descriptors, got {len(fds)}"})
                conn.close()
                for fd in fds:
                    os.close(fd)
                continue
            pid = os.fork()
            if pid == 0:
                become_run(listener, conn, request, fds)
            for fd in fds:
                os.close(fd)
            children[pid] = conn
    finally:
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            Path(path).unlink()


def reap(children: dict[int, socket.socket]) -> None:
    for pid in list(children):
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done, status = pid, 1 << 8
        if done == 0:
            continue
        conn = children.pop(pid)
        if os.WIFSIGNALED(status):
            send_line(conn, {"signal": os.WTERMSIG(status)})
        else:
            send_line(conn, {"exit": os.waitstatus_to_exitcode(status)})
        conn.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m loraprof_engine.zygote SOCKET_PATH", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    sys.exit(serve(sys.argv[1]))
