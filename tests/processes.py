"""Finding and waiting for real processes in tests, read from /proc.

The tests that check "every process judgecraft starts dies with its parent" need the same few things:
who is a child of whom, which processes carry a marker, whether one is still alive (a zombie is not),
and a poll for a state up to a generous deadline. The deadline only bounds a wait for a state that
must come; nothing here measures how long anything took, so a busy machine is slow, never wrong.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

DEADLINE = 300.0  # seconds: an upper bound for a state to be reached, never a measurement


def _stat_fields(pid: int) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].split()


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def alive(pid: int) -> bool:
    """Running or sleeping: neither gone nor a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != b"Z"


def identity(pid: int) -> tuple[int, int] | None:
    """(pid, start time in clock ticks): tells a process from a later one that reuses its pid."""
    fields = _stat_fields(pid)
    return None if fields is None else (pid, int(fields[19]))


def still_running(identities: set[tuple[int, int]]) -> list[str]:
    """Which of the recorded processes are still alive (same pid and start time), with their command lines."""
    return [
        f"{pid} {cmdline(pid)[:120]}" for pid, started in identities if identity(pid) == (pid, started) and alive(pid)
    ]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def cpu_ticks(pid: int) -> int:
    """User + system CPU time in clock ticks (grows only while the process computes)."""
    fields = _stat_fields(pid)
    return 0 if fields is None else int(fields[11]) + int(fields[12])


def parents() -> dict[int, int]:
    """pid -> parent pid of every live (non-zombie) process."""
    out = {}
    for pid in _pids():
        fields = _stat_fields(pid)
        if fields is not None and fields[0] != b"Z":
            out[pid] = int(fields[1])
    return out


def children_of(pid: int) -> list[int]:
    return [child for child, parent in parents().items() if parent == pid]


def descendants(pids: set[int]) -> set[int]:
    """The live processes below any of `pids` (children, grandchildren, ...), `pids` excluded."""
    table, found = parents(), set()
    for pid in table:
        chain, seen = pid, set()
        while chain in table and chain not in seen:
            seen.add(chain)
            chain = table[chain]
            if chain in pids or chain in found:
                found.add(pid)
                break
    return found - pids


def with_marker(marker: str) -> list[int]:
    """Live processes (this one excluded) whose command line contains `marker`."""
    return [pid for pid in _pids() if pid != os.getpid() and marker in cmdline(pid) and alive(pid)]


def wait_for(predicate, what: str, deadline: float = DEADLINE):
    """Poll until `predicate()` is truthy and return its value; fail naming `what` after `deadline` s."""
    end = time.monotonic() + deadline
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"not reached within {deadline:g}s: {what}")
        time.sleep(0.05)
