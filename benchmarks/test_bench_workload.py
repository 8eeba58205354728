"""Whole jobs: the seed's workload at reduced size, and the writer path (64 MiB to the files).

Each round gets a fresh logger in a fresh directory (untimed setup; the previous round's
logger is stopped and its files removed there) and the time runs up to the point where
every line is in its file.
"""

from __future__ import annotations

import glob
import os
import shutil
import threading
from itertools import repeat

import pytest
from compare import produce  # benchmarks/compare.py: the seed's producer loop, shared by every peer

import fastevlog

SEED_EVENTS, SEED_THREADS = 200_000, 20
APPROX_LINE = 112                                   # bytes of one line of the writer benchmarks
WRITER_EVENTS = 64 * 1024 * 1024 // APPROX_LINE     # ~64 MiB of lines
WRITER_PARAMETERS = dict(buffer_bytes=256 * 1024 * 1024, buffer_size=100_000_000, flush_interval=3600)


class Rounds:
    """Makes each round's logger; stops the previous one and removes its directory first."""

    def __init__(self, log_dir, **parameters):
        self.log_dir, self.parameters = log_dir, parameters
        self.made, self.logger, self.directory = 0, None, None

    def new_logger(self):
        self.close()
        self.made += 1
        self.directory = os.path.join(self.log_dir, f"round{self.made}")
        self.logger = fastevlog.EventLogCounter(directory=self.directory, **self.parameters)
        return self.logger

    def close(self, remove=True):
        if self.logger is not None:
            self.logger.stop()
            if remove:
                shutil.rmtree(self.directory, ignore_errors=True)

    def bytes_in_files(self):
        return sum(os.path.getsize(p) for p in glob.glob(os.path.join(glob.escape(self.directory), "*.log")))


@pytest.mark.benchmark(group="workload")
def test_seed_workload(benchmark, log_dir):
    """200k events from 20 threads (the seed's loop), from starting the threads to the end of stop()."""
    rounds = Rounds(log_dir)

    def setup():
        logger = rounds.new_logger()
        threads = [threading.Thread(target=produce, args=(logger.log, t, SEED_EVENTS, SEED_THREADS))
                   for t in range(SEED_THREADS)]
        return (logger, threads), {}

    def job(logger, threads):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        logger.stop()
        return logger

    benchmark.extra_info.update(events=SEED_EVENTS, threads=SEED_THREADS)
    try:
        logger = benchmark.pedantic(job, setup=setup, rounds=10, warmup_rounds=1)
        metrics = logger.metrics()
        assert metrics["events_logged"] == metrics["events_written"] == SEED_EVENTS, metrics
        assert metrics["bytes_written"] == rounds.bytes_in_files(), metrics
        counts = logger.counts()
        assert counts["levels"] == {"INFO": SEED_EVENTS // 2, "ERROR": SEED_EVENTS // 2}
        assert len(counts["event_ids"]) == 1000 and counts["event_ids"]["event_0"] == SEED_EVENTS // 1000
    finally:
        rounds.close()


def log_writer_events(logger):
    log = logger.log
    for _ in repeat(None, WRITER_EVENTS):
        log("INFO", "event_7", "Event event_7 occurred.")


@pytest.mark.benchmark(group="writer")
def test_log_and_write_64mib(benchmark, log_dir):
    """~64 MiB of events logged from one thread, then flush(): encoding and writing, end to end.

    Full segments go to the writers as soon as they fill, so the writers run while the
    loop logs; the time ends when flush() returns, with all ~64 MiB in the files.
    """
    rounds = Rounds(log_dir, **WRITER_PARAMETERS)

    def job(logger):
        log_writer_events(logger)
        logger.flush()
        return logger.metrics()

    benchmark.extra_info.update(events=WRITER_EVENTS)
    try:
        metrics = benchmark.pedantic(job, setup=lambda: ((rounds.new_logger(),), {}),
                                     rounds=10, warmup_rounds=1)
        assert metrics["events_logged"] == metrics["events_written"] == WRITER_EVENTS, metrics
        assert metrics["bytes_written"] == rounds.bytes_in_files() > 60 * 1024 * 1024, metrics
        benchmark.extra_info["bytes"] = metrics["bytes_written"]
    finally:
        rounds.close()


@pytest.mark.benchmark(group="writer")
def test_flush_after_logging_64mib(benchmark, log_dir):
    """flush() alone, after ~64 MiB was logged (untimed) with flush_interval=3600.

    What flush() still has to do then: seal the partial segment and wait for the writers
    to finish the segments in flight.  Full segments go to the writers as they fill, so
    most of the 64 MiB is usually written before flush() is called: extra_info records
    buffer_bytes_in_use just before each timed flush().
    """
    rounds = Rounds(log_dir, **WRITER_PARAMETERS)
    pending = []

    def setup():
        logger = rounds.new_logger()
        log_writer_events(logger)
        pending.append(logger.metrics()["buffer_bytes_in_use"])
        return (logger,), {}

    def job(logger):
        logger.flush()
        return logger.metrics()

    try:
        metrics = benchmark.pedantic(job, setup=setup, rounds=10, warmup_rounds=1)
        benchmark.extra_info.update(events=WRITER_EVENTS, bytes=metrics["bytes_written"],
                                    buffer_bytes_in_use_before_flush=pending)
        assert metrics["events_logged"] == metrics["events_written"] == WRITER_EVENTS, metrics
        assert metrics["bytes_written"] == rounds.bytes_in_files() > 60 * 1024 * 1024, metrics
    finally:
        rounds.close()
