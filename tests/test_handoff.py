"""Full segments reach the scheduler several at a time (seals_per_wake), and none waits for a flush."""

import threading
import time

import pytest
import support

import fastevlog
from fastevlog import _logger

SEGMENT = 64 * 1024
MESSAGE = "x" * 100


class TestSealsPerWake:
    """How many full segments wake the scheduler."""

    def test_about_wake_bytes_of_segments(self, monkeypatch):
        monkeypatch.setattr(_logger, "_WAKE_BYTES", 4 * 1024 * 1024)
        assert _logger.seals_per_wake(32, 1024 * 1024) == 4
        assert _logger.seals_per_wake(1024, 256 * 1024) == 16

    def test_at_most_a_quarter_of_the_ring(self, monkeypatch):
        monkeypatch.setattr(_logger, "_WAKE_BYTES", 64 * 1024 * 1024)
        assert _logger.seals_per_wake(32, 1024 * 1024) == 8
        assert _logger.seals_per_wake(7, 1024 * 1024) == 1

    def test_every_seal_wakes_with_large_segments(self):
        assert _logger.seals_per_wake(4, 16 * 1024 * 1024) == 1
        assert _logger.seals_per_wake(1024, _logger._WAKE_BYTES * 2) == 1

    def test_the_core_refuses_more_than_half_the_ring(self, tmp_path):
        with fastevlog.EventLogCounter(directory=tmp_path) as logger:
            buffer = fastevlog.EventLogCounter.__new__(fastevlog.EventLogCounter)
            with pytest.raises(ValueError, match="wake_after"):
                buffer._attach(logger._buffer_file.mapping, 4, SEGMENT, -1, 0, True, 1000, wake_after=3)
            with pytest.raises(ValueError, match="wake_after"):
                buffer._attach(logger._buffer_file.mapping, 4, SEGMENT, -1, 0, True, 1000, wake_after=0)


@pytest.fixture
def four_per_wake(monkeypatch):
    """Loggers made now have 64 KiB segments, four of which wake the scheduler."""
    monkeypatch.setattr(_logger, "_SEGMENT_TARGET", SEGMENT)
    monkeypatch.setattr(_logger, "_WAKE_BYTES", 4 * SEGMENT)


def fill_segments(logger, segments: int, first: int = 0) -> int:
    """Log lines until ``segments`` segments are sealed full; returns the next seq."""
    seq = first
    target = segments * SEGMENT
    while logger.metrics()["buffer_bytes_in_use"] < target:
        logger.info("e", MESSAGE, seq=seq)
        seq += 1
    return seq


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


class TestFullSegmentsWakeTogether:
    """A full segment wakes the scheduler only with the ones sealed after it; other seals at once."""

    def test_fourth_full_segment_wakes_the_scheduler(self, tmp_path, four_per_wake):
        with fastevlog.EventLogCounter(directory=tmp_path, log_file="app", buffer_bytes=16 * SEGMENT,
                                       flush_interval=60) as logger:
            seq = fill_segments(logger, 3)  # 3 sealed, the 4th active
            time.sleep(0.3)  # long enough for a scheduler woken by each seal to place them
            assert logger.metrics()["flushes"] == 0
            seq = fill_segments(logger, 5, seq)  # the 4th sealed too: no flush(), no tick
            assert wait_for(lambda: logger.metrics()["flushes"] >= 4)
            assert wait_for(lambda: logger.metrics()["events_written"] > 0)
            logger.flush()
        assert [event["seq"] for event in support.read_events(tmp_path, "app")] == list(range(seq))

    def test_buffer_size_seal_wakes_at_once(self, tmp_path, four_per_wake):
        with fastevlog.EventLogCounter(directory=tmp_path, log_file="app", buffer_bytes=16 * SEGMENT,
                                       flush_interval=60, buffer_size=10) as logger:
            for seq in range(10):
                logger.info("e", MESSAGE, seq=seq)
            assert wait_for(lambda: logger.metrics()["events_written"] == 10)

    def test_ring_filled_over_and_over_without_tick(self, tmp_path, four_per_wake):
        # A producer waiting for room wakes the scheduler, whatever number of full segments wait.
        events = 8 * 16 * SEGMENT // 150
        with fastevlog.EventLogCounter(directory=tmp_path, log_file="app", buffer_bytes=16 * SEGMENT,
                                       flush_interval=60) as logger:
            producer = threading.Thread(target=lambda: [logger.info("e", MESSAGE, seq=seq)
                                                        for seq in range(events)])
            producer.start()
            producer.join(60)
            assert not producer.is_alive(), "log() waited for room that never came"
            logger.flush()
            metrics = logger.metrics()
        assert metrics["events_written"] == events and metrics["dropped"] == 0
        assert [event["seq"] for event in support.read_events(tmp_path, "app")] == list(range(events))

    def test_dropping_producer_still_feeds_the_writers(self, tmp_path, four_per_wake):
        # With on_full="drop" nothing waits for room, so only the full segments' own wake-ups
        # bring them to the writers before a flush.
        ring_events = 16 * SEGMENT // 150
        seq = 0
        with fastevlog.EventLogCounter(directory=tmp_path, log_file="app", buffer_bytes=16 * SEGMENT,
                                       flush_interval=60, on_full="drop") as logger:
            deadline = time.monotonic() + 30
            while logger.metrics()["events_written"] < 3 * ring_events:
                assert time.monotonic() < deadline, "full segments did not reach the writers"
                for _ in range(500):
                    logger.info("e", MESSAGE, seq=seq)
                    seq += 1
                time.sleep(0.001)  # the writers' turn, on a loaded machine too
            logger.flush()
            metrics = logger.metrics()
        seqs = [event["seq"] for event in support.read_events(tmp_path, "app")]
        assert metrics["events_written"] == len(seqs) == seq - metrics["dropped"]
        assert seqs == sorted(seqs)
