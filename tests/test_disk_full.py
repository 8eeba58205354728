"""A real full disk: a small tmpfs mounted for the test (skipped where mounting is not allowed)."""

import logging
import os
import threading

import pytest
from support import mounted_tmpfs, read_events

import fastevlog
from fastevlog import EventLogCounter


@pytest.fixture
def small_disk(tmp_path):
    """A 512 KiB tmpfs, unmounted afterwards."""
    with mounted_tmpfs(tmp_path / "disk", "size=512k") as mount_point:
        yield mount_point


def _fill(disk, leave):
    """Fill the disk with one file until only about `leave` bytes are free."""
    filler = disk / "filler"
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    filler.write_bytes(b"\0" * max(0, free - leave))
    return filler


def test_enospc_then_space_returns(small_disk, caplog):
    """ENOSPC: retried, counted, CRITICAL, kept; once space returns, every event is written once."""
    caplog.set_level(logging.INFO, logger="fastevlog")
    # ~135-byte lines: 61 KB for a disk with 40 KB free and a 64 KiB ring of four 16 KiB segments. With 600
    # (81 KB) the held segments and the active one filled the ring whenever a write failed early (seen
    # on a loaded CI machine), and the producer blocked as on_full="block" says it must.
    events = 450
    with EventLogCounter(directory=small_disk, buffer_bytes=64 * 1024, max_file_size=50_000,
                         max_retries=1, flush_interval=0.02) as logger:
        logger._scheduler.pool.retry_delay = 0.001
        filler = _fill(small_disk, 40 * 1024)  # less than the events need; the rest fits the ring

        def produce():
            for n in range(events):
                logger.info("e", "m" * 40, n=n)

        # In a thread: a miscounted ring would block the producer (on_full="block"), not hang the suite.
        producer = threading.Thread(target=produce)
        producer.start()
        producer.join(timeout=30)
        assert not producer.is_alive(), "the producer blocked: the held events did not fit the ring"
        with pytest.raises(fastevlog.WriteError):
            logger.flush()
        metrics = logger.metrics()
        assert metrics["write_failures"] > 0 and metrics["retries"] > 0
        assert metrics["events_written"] < events and metrics["dropped"] == 0
        assert any(r.levelno == logging.CRITICAL for r in caplog.records)
        filler.unlink()
        logger.flush()
    assert [e["n"] for e in read_events(small_disk)] == list(range(events))
    assert not list(small_disk.glob("*.buffer"))


def test_full_disk_at_construction(small_disk):
    """No room for the buffer file: a clear OSError at construction, nothing left behind."""
    _fill(small_disk, 16 * 1024)
    with pytest.raises(OSError):
        EventLogCounter(directory=small_disk, buffer_bytes=256 * 1024)
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]
