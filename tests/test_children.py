"""Every process judgecraft starts dies with its parent: normal exit, exception, SIGKILL, a thread that ended.

Real processes, found by a unique marker in their command line; the tests poll for a state (gone or
alive) up to a generous deadline and never assert on how long anything took.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from judgecraft.children import kill_group, spawn, stop_group

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 60.0  # generous: only an upper bound for a state to be reached, never a measurement


def _with_marker(marker: str) -> list[int]:
    """PIDs of live (non-zombie) processes whose command line contains `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline and stat[stat.rfind(b")") + 2 :][:1] != b"Z":
            found.append(int(entry))
    return found


def _wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {DEADLINE:g}s: {what}")
        time.sleep(0.1)


def _sleeper(marker: str, grandchild: bool = False) -> list[str]:
    """A command that sleeps forever (optionally after starting a grandchild that does the same)."""
    code = "import subprocess, sys, time\n"
    if grandchild:  # like vLLM's server starting its engine core
        code += f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(10**6)', '{marker}-grandchild'])\n"
    code += "print('up', flush=True)\ntime.sleep(10**6)\n"
    return [sys.executable, "-c", code, marker]


def _parent_script(marker: str, ending: str) -> str:
    return textwrap.dedent(
        f"""
        import sys, threading, time
        sys.path.insert(0, {str(ROOT)!r})
        from judgecraft.children import spawn
        cmd = {_sleeper(marker, grandchild=True)!r}
        process = spawn(cmd, stdout=__import__('subprocess').PIPE)
        assert process.stdout.readline().strip() == b"up"
        print("ready", flush=True)
        if {ending!r} == "exit":
            sys.exit(0)
        if {ending!r} == "raise":
            raise RuntimeError("boom")
        time.sleep(10**6)  # "kill": the test SIGKILLs us
        """
    )


@pytest.mark.parametrize("ending", ["exit", "raise", "kill"])
def test_children_and_grandchildren_die_with_the_parent(ending):
    marker = f"jc-test-{uuid.uuid4().hex}"
    parent = subprocess.Popen(
        [sys.executable, "-c", _parent_script(marker, ending)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == b"ready"
        _wait_for(lambda: len(_with_marker(marker)) >= 3, "guardian, child and grandchild running")
        if ending == "kill":
            parent.send_signal(signal.SIGKILL)
        parent.wait(DEADLINE)
        _wait_for(lambda: not _with_marker(marker), f"every process of {marker} gone after the parent's {ending}")
    finally:
        parent.kill()
        for pid in _with_marker(marker):
            os.kill(pid, signal.SIGKILL)


def test_a_child_started_from_a_thread_that_ended_lives_on():
    """PR_SET_PDEATHSIG would kill it when the starting thread ends; the guardian watches the process."""
    import threading

    marker = f"jc-test-{uuid.uuid4().hex}"
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("p", spawn(_sleeper(marker), stdout=subprocess.PIPE)))
    thread.start()
    thread.join()
    process = box["p"]
    try:
        assert process.stdout.readline().strip() == b"up"  # alive after its thread is gone
        assert process.poll() is None
    finally:
        kill_group(process)
    _wait_for(lambda: not _with_marker(marker), "killed group gone")


def test_exit_code_passes_through_and_leftovers_are_ended():
    marker = f"jc-test-{uuid.uuid4().hex}"
    code = (
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(10**6)', '{marker}'])\n"
        "sys.exit(7)\n"
    )
    process = spawn([sys.executable, "-c", code])
    assert process.wait(DEADLINE) == 7
    _wait_for(lambda: not _with_marker(marker), "the command's leftover child ended with it")


def test_stop_group_ends_a_command_that_ignores_sigterm():
    marker = f"jc-test-{uuid.uuid4().hex}"
    code = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('up', flush=True)\ntime.sleep(10**6)\n"
    )
    process = spawn([sys.executable, "-c", code, marker], stdout=subprocess.PIPE, grace=0.5)
    assert process.stdout.readline().strip() == b"up"
    stop_group(process, grace=1.0)
    _wait_for(lambda: not _with_marker(marker), "a SIGTERM-proof command killed")
