"""The housekeeper thread: compression and retention while a logger runs, and what stop() leaves."""

import gzip
import logging
import sys
import threading
import time

import pytest

import fastevlog
from fastevlog import EventLogCounter, _compression, _housekeeper

LOG_FILE = "async_buffered_logs"


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def log_some(logger, events, first=0):
    for n in range(first, first + events):
        logger.info("e", "m" * 60, n=n)


def sequence_numbers(directory):
    """Every event's n in the directory, compressed or not, via a plain reader."""
    import json
    found = []
    for path in sorted(directory.iterdir()):
        if path.name.endswith(".log"):
            data = path.read_bytes()
        elif path.name.endswith(".log.gz"):
            data = gzip.decompress(path.read_bytes())
        else:
            continue
        found += [json.loads(line)["n"] for line in data.splitlines()]
    return sorted(found)


def test_closed_files_are_compressed_while_logging(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fastevlog")
    with EventLogCounter(directory=tmp_path, max_file_size=20_000, flush_interval=0.01,
                         compress="gzip") as logger:
        log_some(logger, 2000)
        logger.flush()
        wait_for(lambda: logger.metrics()["files_compressed"] >= 5)
    metrics = logger.metrics()
    assert metrics["compress_failures"] == 0 and metrics["files_deleted"] == 0
    assert sequence_numbers(tmp_path) == list(range(2000))
    assert sum("compressed " in r.message for r in caplog.records) == metrics["files_compressed"]
    # What stop() closed last is compressed by the next start.
    plain = [p for p in tmp_path.iterdir() if p.name.endswith(".log")]
    assert plain
    with EventLogCounter(directory=tmp_path, compress="gzip") as logger:
        wait_for(lambda: logger.metrics()["files_compressed"] >= len(plain))
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".log")] == []
    assert fastevlog.count(str(tmp_path)).total == 2000 == len(sequence_numbers(tmp_path))


def test_no_thread_without_compression_or_retention(tmp_path):
    with EventLogCounter(directory=tmp_path) as logger:
        assert logger._housekeeper is None
        assert not [t for t in threading.enumerate() if t.name == "fastevlog-housekeeper"]
        assert logger.metrics()["files_compressed"] == 0


def test_retention_while_logging(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fastevlog")
    with EventLogCounter(directory=tmp_path, max_file_size=20_000, flush_interval=0.01,
                         keep_files=3) as logger:
        log_some(logger, 2000)
        logger.flush()
        wait_for(lambda: logger.metrics()["files_written"] - logger.metrics()["files_deleted"] <= 4)
    metrics = logger.metrics()
    remaining = sequence_numbers(tmp_path)
    assert remaining == list(range(2000 - len(remaining), 2000))  # the newest events are the ones kept
    assert metrics["files_deleted"] == sum("deleted " in r.message for r in caplog.records) > 0
    assert metrics["bytes_deleted"] + sum(p.stat().st_size for p in tmp_path.glob("*.log")) == \
        metrics["bytes_written"]


def test_stop_does_not_wait_for_a_compression(tmp_path, monkeypatch):
    """A compression crawling one byte at a time: stop() gives it up; the original stays whole."""
    with EventLogCounter(directory=tmp_path, max_file_size=200_000) as logger:
        log_some(logger, 3000)
    originals = {p.name: p.read_bytes() for p in tmp_path.glob("*.log")}
    started = threading.Event()
    monkeypatch.setattr(_compression, "CHUNK_BYTES", 1)
    monkeypatch.setattr(_compression, "_reached", lambda step: step == "temporary created" and started.set())
    logger = EventLogCounter(directory=tmp_path, compress="gzip")
    assert started.wait(30)
    logger.stop()
    assert not [t for t in threading.enumerate() if t.name == "fastevlog-housekeeper"]
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.log")} == originals
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(originals)  # no temporary left


def test_a_failing_pass_is_reported_and_the_thread_goes_on(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.ERROR, logger="fastevlog")
    monkeypatch.setattr(_housekeeper, "FIRST_RETRY", 0.01)
    real_run = _housekeeper.Housekeeping.run
    calls = []

    def flaky(self):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in a pass")
        return real_run(self)

    monkeypatch.setattr(_housekeeper.Housekeeping, "run", flaky)
    with EventLogCounter(directory=tmp_path, max_file_size=20_000, flush_interval=0.01,
                         compress="gzip") as logger:
        log_some(logger, 1000)
        logger.flush()
        wait_for(lambda: logger.metrics()["files_compressed"] > 0)
    assert "a bug in a pass" in caplog.text


def test_a_failed_compression_is_counted_and_retried(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.ERROR, logger="fastevlog")
    monkeypatch.setattr(_housekeeper, "FIRST_RETRY", 0.01)
    failures = []

    def fail_twice(step):
        if step == "temporary synced" and len(failures) < 2:
            failures.append(step)
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(_compression, "_reached", fail_twice)
    with EventLogCounter(directory=tmp_path, max_file_size=20_000) as logger:
        log_some(logger, 300)
    with EventLogCounter(directory=tmp_path, compress="gzip") as logger:
        wait_for(lambda: not list(tmp_path.glob("*.log")))
    metrics = logger.metrics()
    assert metrics["compress_failures"] == 2 and "cannot compress" in caplog.text
    assert sequence_numbers(tmp_path) == list(range(300))
    assert not list(tmp_path.glob(".*"))


def test_zstd_missing_is_a_clear_error_at_construction(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(ImportError, match=r"compress='zstd' needs the zstandard package: pip install "
                                          r"'fastevlog\[zstd\]'"):
        EventLogCounter(directory=tmp_path / "logs", compress="zstd")
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize("compress", [None, "gzip"])
def test_stop_applies_retention_to_what_it_closed(tmp_path, compress):
    """A short script's files: the limits hold once it stops, even if the thread never got a turn."""
    with EventLogCounter(directory=tmp_path, max_file_size=5_000, flush_interval=60, keep_files=2,
                         compress=compress) as logger:
        logger._housekeeper.stop()  # as if starved of CPU until the end
        log_some(logger, 1000)
    assert len([p for p in tmp_path.iterdir() if ".log" in p.name]) == 2
    assert logger.metrics()["files_deleted"] > 0
    assert sequence_numbers(tmp_path)[-1] == 999  # the newest kept


def test_a_pass_syncs_the_directory_once_for_several_files(tmp_path, monkeypatch):
    """The renames of a pass's copies are made durable together, then the originals go."""
    import os
    import stat
    with EventLogCounter(directory=tmp_path, max_file_size=5_000) as logger:
        log_some(logger, 500)
    originals = len(list(tmp_path.glob("*.log")))
    assert 4 <= originals <= _housekeeper._SETTLE_AT_ONCE
    synced = {"directory": 0, "file": 0}
    real_fsync = os.fsync

    def counted(fd):
        synced["directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"] += 1
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counted)
    report = _housekeeper.housekeep(str(tmp_path), compress="gzip")
    assert report.files_compressed == originals == synced["file"]
    assert synced["directory"] == 1
    assert not list(tmp_path.glob("*.log")) and sequence_numbers(tmp_path) == list(range(500))
