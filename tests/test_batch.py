"""log_many(): a batch of events from columns, encoded with the GIL released."""

import array
import math
import threading

import pytest
from reference import expected_value
from support import read_events

from fastevlog import EventLogCounter

np = pytest.importorskip("numpy")


def _logger(tmp_path, **parameters):
    return EventLogCounter(directory=tmp_path, **parameters)


class TestColumns:
    def test_lines_match_log(self, tmp_path):
        """Each row is the line log() writes for the same values, in row order."""
        rows = [("INFO", "a", "first", 1, 1.5, "x"), ("ERROR", "b", None, -2, math.nan, None),
                ("warning", "c", "é\n\u2028\ud800", 2**40, 1e16, True)]
        with _logger(tmp_path, log_file="many") as many, _logger(tmp_path, log_file="one") as one:
            levels, ids, messages, ints, floats, objects = (list(c) for c in zip(*rows))
            many.log_many(levels, ids, messages, n=ints, f=floats, o=objects)
            for level, event_id, message, n, f, o in rows:
                one.log(level, event_id, message, n=n, f=f, o=o)
        def without_time(log_file):
            return [{k: v for k, v in e.items() if k != "timestamp"} for e in read_events(tmp_path, log_file)]

        assert without_time("many") == without_time("one")
        assert many.counts() == one.counts()

    def test_arrays_are_read_directly(self, tmp_path):
        """numpy and array.array columns: ints and floats as numbers, bools as true/false."""
        n = 1000
        with _logger(tmp_path) as logger:
            logger.log_many("INFO", np.arange(n, dtype=np.int32), i64=np.arange(n, dtype=np.int64) * 2**40,
                            u8=np.arange(n, dtype=np.uint8), f64=np.linspace(0, 1, n),
                            f32=np.full(n, 0.5, dtype=np.float32), b=np.arange(n) % 2 == 0,
                            a=array.array("q", range(n)))
        events = read_events(tmp_path)
        assert [e["event_id"] for e in events] == list(range(n))
        assert [e["i64"] for e in events] == [i * 2**40 for i in range(n)]
        assert [e["u8"] for e in events] == [i % 256 for i in range(n)]
        assert [e["f64"] for e in events] == list(np.linspace(0, 1, n))
        assert {e["f32"] for e in events} == {0.5}
        assert [e["b"] for e in events] == [i % 2 == 0 for i in range(n)]
        assert [e["a"] for e in events] == list(range(n))
        assert logger.counts()["event_ids"] == {i: 1 for i in range(n)}

    def test_levels_forms_and_filter(self, tmp_path):
        """One level, a sequence of names/ints, or a uint8 array; rows below `level` are skipped."""
        with _logger(tmp_path, level="WARNING") as logger:
            logger.log_many("error", ["a", "b"])
            logger.log_many(["INFO", 30, "critical"], ["c", "d", "e"])
            logger.log_many(np.array([10, 40], dtype=np.uint8), ["f", "g"])
        assert [(e["level"], e["event_id"]) for e in read_events(tmp_path)] == [
            ("ERROR", "a"), ("ERROR", "b"), ("WARNING", "d"), ("CRITICAL", "e"), ("ERROR", "g")]
        assert logger.metrics()["events_logged"] == 5

    def test_values_equal_the_input(self, tmp_path):
        """Every value reads back as itself (surrogates as U+FFFD, non-finite as null)."""
        values = ["plain", "quote\" back\\", "\x00\x1f", "\ud83d", "\U0001f600", 0, -(2**63), 2**64,
                  0.1, -0.0, 5e-324, math.inf, None, True, False, object]
        with _logger(tmp_path) as logger:
            logger.log_many("INFO", ["e"] * len(values), v=values)
        assert [e["v"] for e in read_events(tmp_path)] == [expected_value(v) for v in values]


class TestBatches:
    def test_large_batch_across_segments_in_order(self, tmp_path):
        """A batch bigger than the ring is written whole, in order, with nothing dropped."""
        n = 200_000
        with _logger(tmp_path, buffer_bytes=256 * 1024) as logger:
            logger.info("before")
            logger.log_many("INFO", [f"event_{i % 1000}" for i in range(n)], seq=np.arange(n))
            logger.info("after")
        events = read_events(tmp_path)
        assert [e.get("seq") for e in events] == [None, *range(n), None]
        assert logger.counts()["event_ids"]["event_7"] == n // 1000
        assert logger.metrics()["events_written"] == n + 2

    def test_rows_larger_than_a_segment(self, tmp_path):
        """Rows too large for a segment are written whole, in order."""
        big = "x" * 100_000
        with _logger(tmp_path, buffer_bytes=64 * 1024) as logger:
            logger.log_many("INFO", ["a", "b", "c", "d"], ["m", big, "m", big * 3])
        assert [len(e["message"]) for e in read_events(tmp_path)] == [1, 100_000, 1, 300_000]

    def test_other_threads_run_while_a_batch_is_encoded(self, tmp_path):
        """Another Python thread makes progress while log_many() encodes 1M events."""
        n = 1_000_000
        ids = [f"event_{i % 1000}" for i in range(n)]
        ticks = [0]
        done = threading.Event()

        def count():
            while not done.is_set():
                ticks[0] += 1

        with _logger(tmp_path) as logger:
            counter = threading.Thread(target=count)
            counter.start()
            try:
                before = ticks[0]
                logger.log_many("INFO", ids, ids)
                during = ticks[0] - before
            finally:
                done.set()
                counter.join()
        # The call runs no bytecode of its own, so only a released GIL lets the counter move.
        assert during > 0
        assert logger.metrics()["events_written"] == n

    def test_drop_counts_rows_that_did_not_fit(self, tmp_path):
        """on_full="drop": rows missing from the files are exactly metrics()["dropped"]."""
        gate = threading.Event()
        with _logger(tmp_path, buffer_bytes=64 * 1024, on_full="drop") as logger:
            pool = logger._scheduler.pool
            real = pool.pwritev
            pool.pwritev = lambda fd, buffers, offset: gate.wait() and real(fd, buffers, offset)
            logger.log_many("INFO", ["e"] * 20_000, "m" * 50, seq=np.arange(20_000))
            gate.set()
        written = [e["seq"] for e in read_events(tmp_path)]
        metrics = logger.metrics()
        assert metrics["dropped"] > 0
        assert 20_000 - len(written) == metrics["dropped"]
        assert logger.counts()["event_ids"] == {"e": len(written)}
        assert written == sorted(written)


class TestBadBatches:
    @pytest.mark.parametrize("call, error", [
        (lambda c: c.log_many("LOUD", ["a"]), ValueError),
        (lambda c: c.log_many(["INFO", 25], ["a", "b"]), ValueError),
        (lambda c: c.log_many(["INFO"], ["a", "b"]), ValueError),
        (lambda c: c.log_many("INFO", ["a", None]), TypeError),
        (lambda c: c.log_many("INFO", "ab"), TypeError),
        (lambda c: c.log_many("INFO", ["a", "b"], ["m"]), ValueError),
        (lambda c: c.log_many("INFO", ["a", "b"], k=[1]), ValueError),
        (lambda c: c.log_many("INFO", ["a"], k=np.zeros((1, 1))), TypeError),
        (lambda c: c.log_many("INFO", ["a"], k=np.array(["s"])), TypeError),
        (lambda c: c.log_many("INFO", np.array([1.5]), k=[1]), TypeError),
        (lambda c: c.log_many("INFO", ["a"], timestamp=[1]), ValueError),
        (lambda c: c.log_many("INFO", ["a", "b", "c"], k="abc"), TypeError),
        (lambda c: c.log_many("INFO", ["a"], k=5), TypeError),
    ])
    def test_bad_batch_writes_nothing(self, tmp_path, call, error):
        """A bad batch is an error before any of its rows is written; earlier events stay."""
        with _logger(tmp_path) as logger:
            logger.info("ok")
            with pytest.raises(error):
                call(logger)
            logger.info("ok")
        assert [e["event_id"] for e in read_events(tmp_path)] == ["ok", "ok"]
        assert logger.counts()["event_ids"] == {"ok": 2}

    def test_one_message_for_all(self, tmp_path):
        """A single str as messages is the message of every event."""
        with _logger(tmp_path) as logger:
            logger.log_many("INFO", ["a", "b"], "same")
        assert [e["message"] for e in read_events(tmp_path)] == ["same", "same"]

    def test_after_stop(self, tmp_path):
        """log_many() on a stopped logger raises RuntimeError."""
        logger = _logger(tmp_path)
        logger.stop()
        with pytest.raises(RuntimeError):
            logger.log_many("INFO", ["a"])
