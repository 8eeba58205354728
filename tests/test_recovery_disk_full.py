"""Recovery on a real full disk: a small tmpfs mounted for the test (skipped where mounting is refused)."""

import logging
import os
import subprocess
import sys

import pytest
from dead_buffers import log_then_die
from support import child_env, mounted_tmpfs, read_events

from fastevlog import EventLogCounter


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs, unmounted afterwards."""
    with mounted_tmpfs(tmp_path / "disk", "size=2m") as mount_point:
        yield mount_point


def test_full_disk_during_recovery_keeps_the_buffer_then_recovers_once(small_disk, caplog):
    """No room to finish: the buffer file is kept, the real error named; with room again, each event once."""
    events = 2500  # about 200 KB: all in the dead logger's buffer (one 256 KiB segment), none in a file
    log_then_die(small_disk, events, buffer_bytes=1 << 20)
    (buffer,) = small_disk.glob("*.buffer")
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    filler = small_disk / "filler"
    filler.write_bytes(bytes(free - 64 * 1024))  # room for about a third of the lines

    command = subprocess.run([sys.executable, "-m", "fastevlog", "recover", str(small_disk)], cwd=small_disk,
                             env=child_env(), capture_output=True, text=True, timeout=60)
    assert command.returncode == 1
    assert "No space left on device" in command.stderr and buffer.name in command.stderr
    assert buffer.exists()

    caplog.set_level(logging.WARNING, logger="fastevlog")
    with pytest.raises(OSError):  # recovery reports and goes on; the logger's own buffer then has no room
        EventLogCounter(directory=small_disk, buffer_bytes=64 * 1024)
    critical = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert any(str(buffer) in message and "No space left on device" in message for message in critical)
    assert buffer.exists()

    filler.unlink()
    with EventLogCounter(directory=small_disk, buffer_bytes=64 * 1024) as logger:
        assert logger.recovered_events > 0
    assert sorted(e["seq"] for e in read_events(small_disk)) == list(range(events))  # no torn line either
    assert not list(small_disk.glob("*.buffer*"))
