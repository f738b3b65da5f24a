"""The guardian: `python -I guardian.py PARENT_PID GRACE -- CMD ...` (started by `children.spawn`).

Standard library only, run as a file in isolated mode so it starts fast and imports nothing of
judgecraft. It is the leader of a new process group; it starts CMD in that group and waits on a
pidfd of PARENT_PID (a process, not a thread, so a parent's thread pool cannot trigger it early).
When the parent dies, or the guardian gets SIGTERM/SIGINT, it sends SIGTERM to the group, waits
GRACE seconds for CMD, then SIGKILLs what is left. When CMD exits on its own, the guardian kills
CMD's leftovers in the group and exits with CMD's code.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time

POLL_SECONDS = 0.5  # only where pidfd_open is missing (Linux < 5.3): the parent is polled instead


class Stop(Exception):
    """Raised by the signal handler to leave the wait loop."""


def _on_signal(signum: int, frame: object) -> None:
    raise Stop


def _group_members() -> list[int]:
    """The other live processes of our process group (from /proc), or [] where there is no /proc."""
    me, group = os.getpid(), os.getpgrp()
    members = []
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2 :].split()  # after "pid (comm) ": state ppid pgrp ...
            if len(fields) > 2 and int(fields[2]) == group and fields[0] != b"Z":
                members.append(int(entry))
    return members


def _signal_others(sig: int) -> None:
    for pid in _group_members():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _end_group(child: subprocess.Popen[bytes], grace: float) -> None:
    _signal_others(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while child.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(subprocess.TimeoutExpired, Stop):
            child.wait(min(0.2, max(0.0, deadline - time.monotonic())))
    _signal_others(signal.SIGKILL)
    with contextlib.suppress(Stop, ChildProcessError):
        child.wait()


def _parent_alive(parent: int) -> bool:
    return os.getppid() == parent


def main(argv: list[str]) -> int:
    if len(argv) < 5 or argv[3] != "--":
        sys.stderr.write("usage: guardian.py PARENT_PID GRACE -- CMD ...\n")
        return 2
    parent, grace, cmd = int(argv[1]), float(argv[2]), argv[4:]
    try:
        parent_fd: int | None = os.pidfd_open(parent)
    except (AttributeError, OSError):
        parent_fd = None
    if not _parent_alive(parent):  # the parent died before we could watch it
        return 137
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        child = subprocess.Popen(cmd)
    except OSError as err:
        sys.stderr.write(f"guardian: cannot start {cmd[0]!r}: {err}\n")
        return 127
    # Drop our copies of the standard streams: the parent must see EOF on a pipe as soon as CMD exits.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        child_fd: int | None = os.pidfd_open(child.pid)
    except (AttributeError, OSError):
        child_fd = None
    try:
        while True:
            watched = [fd for fd in (parent_fd, child_fd) if fd is not None]
            polling = parent_fd is None or child_fd is None
            ready, _, _ = select.select(watched, [], [], POLL_SECONDS if polling else None)
            if (parent_fd is not None and parent_fd in ready) or not _parent_alive(parent):
                raise Stop
            if child.poll() is not None:
                break
    except Stop:
        _end_group(child, grace)
        return 143
    _signal_others(signal.SIGKILL)  # CMD is gone: its leftovers (engine workers) go with it
    return child.returncode if child.returncode >= 0 else 128 - child.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
