"""The lock that elects the serving process running the background worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from roost.kit.process_lock import ProcessLock

_HOLD = """
import sys, time
from pathlib import Path
from roost.kit.process_lock import ProcessLock
lock = ProcessLock(Path(sys.argv[1]))
assert lock.try_acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_one_holder_at_a_time_and_the_next_after_release(tmp_path: Path) -> None:
    path = tmp_path / "data" / "background.lock"  # the directory is made on first use
    first, second = ProcessLock(path), ProcessLock(path)
    assert first.try_acquire()
    assert first.try_acquire()  # holding it already
    assert not second.try_acquire()
    assert path.read_text() == f"{os.getpid()}\n"
    first.release()
    assert second.try_acquire()
    assert not first.try_acquire()  # released: it has to ask again, like anyone else


def test_a_killed_holder_leaves_the_lock_free(tmp_path: Path) -> None:
    path = tmp_path / "background.lock"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        lock = ProcessLock(path)
        assert not lock.try_acquire()
        assert path.read_text() == f"{holder.pid}\n"  # who holds it, for an operator
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        deadline = time.monotonic() + 5
        while not lock.try_acquire():
            assert time.monotonic() < deadline, "the lock outlived its killed holder"
            time.sleep(0.05)
        assert path.read_text() == f"{os.getpid()}\n"
        lock.release()
    finally:
        holder.kill()
        holder.wait()
