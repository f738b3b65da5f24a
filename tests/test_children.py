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
import uuid
from pathlib import Path

import pytest
from processes import wait_for, with_marker

from judgecraft.children import kill_group, spawn, stop_group

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 60.0  # generous: only an upper bound for a process to exit, never a measurement


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
        wait_for(lambda: len(with_marker(marker)) >= 3, "guardian, child and grandchild running")
        if ending == "kill":
            parent.send_signal(signal.SIGKILL)
        parent.wait(DEADLINE)
        wait_for(lambda: not with_marker(marker), f"every process of {marker} gone after the parent's {ending}")
    finally:
        parent.kill()
        for pid in with_marker(marker):
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
    wait_for(lambda: not with_marker(marker), "killed group gone")


def test_exit_code_passes_through_and_leftovers_are_ended():
    marker = f"jc-test-{uuid.uuid4().hex}"
    code = (
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(10**6)', '{marker}'])\n"
        "sys.exit(7)\n"
    )
    process = spawn([sys.executable, "-c", code])
    assert process.wait(DEADLINE) == 7
    wait_for(lambda: not with_marker(marker), "the command's leftover child ended with it")


def test_stop_group_ends_a_command_that_ignores_sigterm():
    marker = f"jc-test-{uuid.uuid4().hex}"
    code = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('up', flush=True)\ntime.sleep(10**6)\n"
    )
    process = spawn([sys.executable, "-c", code, marker], stdout=subprocess.PIPE, grace=0.5)
    assert process.stdout.readline().strip() == b"up"
    stop_group(process, grace=1.0)
    wait_for(lambda: not with_marker(marker), "a SIGTERM-proof command killed")
