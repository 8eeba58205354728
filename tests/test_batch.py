"""log_many(): a batch of events from columns, encoded with the GIL released."""

import array
import collections
import ctypes
import math
import threading
import time

import pytest
from reference import assert_same_line, expected_value, reference_line
from support import log_paths, read_events

from fastevlog import EventLogCounter, LoggerStoppedError

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


def _stopped_while_waiting(logger, produce):
    """Run produce() with the writers held until it waits for room, then stop(); the errors it raised."""
    gate = threading.Event()
    errors = []
    TestBatches._hold_writers(logger, gate)

    def producing():
        try:
            produce()
        except RuntimeError as error:
            errors.append(error)

    producer = threading.Thread(target=producing)
    producer.start()
    deadline = time.monotonic() + 30
    while logger.metrics()["buffer_full_waits"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    stopper = threading.Thread(target=logger.stop)  # its flush waits for the writers
    stopper.start()
    producer.join(30)
    gate.set()
    stopper.join(30)
    assert not producer.is_alive() and not stopper.is_alive()
    return errors


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

    @staticmethod
    def _hold_writers(logger, gate):
        pool = logger._scheduler.pool
        real = pool.pwritev
        pool.pwritev = lambda fd, buffers, offset: gate.wait() and real(fd, buffers, offset)

    def test_small_batches_share_the_active_segment(self, tmp_path):
        """Small batches go into the segment log() fills, after the thread's earlier lines.

        With the writers held, 100 calls of ten events fit a ring of four 64 KiB
        segments; a segment per call would fill it after four calls and drop the rest.
        """
        gate = threading.Event()
        with _logger(tmp_path, buffer_bytes=256 * 1024, on_full="drop") as logger:
            self._hold_writers(logger, gate)
            logger.info("first")
            for call in range(100):
                logger.log_many("INFO", ["e"] * 10, seq=np.arange(call * 10, call * 10 + 10))
                logger.info("between", seq=call)
            gate.set()
        assert logger.metrics()["dropped"] == 0
        events = read_events(tmp_path)
        expected = [("first", None)]
        for call in range(100):
            expected += [("e", seq) for seq in range(call * 10, call * 10 + 10)] + [("between", call)]
        assert [(e["event_id"], e.get("seq")) for e in events] == expected
        assert logger.counts()["event_ids"] == {"first": 1, "e": 1000, "between": 100}

    def test_large_batches_share_segments(self, tmp_path):
        """A large batch goes on in the active segment and leaves its last one active.

        With the writers held, four calls of 5000 events (~2.6 MB) fit a ring of four
        1 MiB segments; segments of their own, sealed per call, would drop events.
        """
        gate = threading.Event()
        with _logger(tmp_path, buffer_bytes=4 << 20, on_full="drop") as logger:
            self._hold_writers(logger, gate)
            logger.info("first")
            for call in range(4):
                seq = np.arange(call * 5000, call * 5000 + 5000)
                logger.log_many("INFO", ["e"] * 5000, "m" * 60, seq=seq)
                logger.info("between", seq=call)
            gate.set()
        assert logger.metrics()["dropped"] == 0
        expected = [("first", None)]
        for call in range(4):
            expected += [("e", seq) for seq in range(call * 5000, call * 5000 + 5000)] + [("between", call)]
        assert [(e["event_id"], e.get("seq")) for e in read_events(tmp_path)] == expected

    def test_late_odd_message_keeps_the_lines_around_the_batch(self, tmp_path):
        """A batch with a late odd message: the lines before and after it stay where they were."""
        n = 20_000
        messages = [f"m{i}" for i in range(n)]
        messages[18_000] = 12.5  # in a later chunk than the first
        with _logger(tmp_path) as logger:
            logger.info("before")
            logger.log_many("INFO", ["e"] * n, messages)
            logger.info("after")
        events = read_events(tmp_path)
        assert [e["event_id"] for e in events] == ["before", *["e"] * n, "after"]
        assert [e["message"] for e in events[1:-1]] == [str(m) for m in messages]
        assert logger.counts()["event_ids"] == {"before": 1, "e": n, "after": 1}

    def test_small_batch_stopped_while_waiting_for_room(self, tmp_path):
        """stop() while a small batch waits for room: an error, and its rows written so far are counted."""
        logger = _logger(tmp_path, buffer_bytes=64 * 1024, on_full="block")

        def produce():
            for _ in range(1000):  # far more than the ring holds while the writers wait
                logger.log_many("INFO", ["e"] * 50, "m" * 50)

        errors = _stopped_while_waiting(logger, produce)
        assert len(errors) == 1 and "stopped" in str(errors[0])
        written = len(read_events(tmp_path))
        assert logger.counts()["event_ids"] == {"e": written}

    def test_small_batches_dropped_when_the_ring_is_full(self, tmp_path):
        """on_full="drop" with small batches: each accepted row is written or counted as dropped."""
        gate = threading.Event()
        calls = 300
        with _logger(tmp_path, buffer_bytes=64 * 1024, on_full="drop", level="INFO") as logger:
            self._hold_writers(logger, gate)
            for call in range(calls):
                logger.log_many(["DEBUG", "INFO"] * 5, ["e"] * 10, "m" * 50,
                                seq=np.arange(call * 10, call * 10 + 10))
            gate.set()
        written = [e["seq"] for e in read_events(tmp_path)]
        metrics = logger.metrics()
        assert metrics["dropped"] > 0
        assert len(written) + metrics["dropped"] == calls * 5
        assert all(seq % 2 == 1 for seq in written)  # the INFO rows; DEBUG ones are filtered out
        assert written == sorted(written)
        assert logger.counts()["event_ids"] == {"e": len(written)}


class TestStoppedDuringBatches:
    """stop() while threads are inside log_many(): each call says how many of its rows were logged."""

    @pytest.mark.parametrize("filtered", [False, True], ids=["all_rows", "half_below_the_level"])
    @pytest.mark.parametrize("rows", [3000, 20_000], ids=["small_batches", "large_batches"])
    def test_accepted_rows_are_exactly_those_logged(self, tmp_path, rows, filtered):
        """For each thread, the rows of its interrupted call in the files are exactly the first
        `accepted` of them that pass the level, and the counts are exactly what the files hold."""
        producers = 4
        levels = ["DEBUG", "INFO"] * (rows // 2) if filtered else "INFO"
        messages = ["m" * 40] * rows  # a list is checked chunk by chunk, the path with the most to undo
        logged_per_call = rows // 2 if filtered else rows
        stopped = {}
        # Four 16 KiB segments: each call waits for room many times, so stop() finds
        # calls at any point of their batch.
        logger = _logger(tmp_path, buffer_bytes=64 * 1024, level="INFO")

        def produce(thread):
            call = 0
            while True:
                seq = np.arange(call * rows, call * rows + rows)
                try:
                    logger.log_many(levels, ["e"] * rows, messages, thread=np.full(rows, thread), seq=seq)
                except LoggerStoppedError as error:
                    stopped[thread] = (call, error.accepted)
                    return
                call += 1

        threads = [threading.Thread(target=produce, args=(t,)) for t in range(producers)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while logger.metrics()["events_logged"] < producers * logged_per_call and time.monotonic() < deadline:
            time.sleep(0.005)
        logger.stop()
        for thread in threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in threads)

        written = collections.defaultdict(list)
        for event in read_events(tmp_path):
            written[event["thread"]].append(event["seq"])
        total = 0
        for thread in range(producers):
            call, accepted = stopped[thread]
            assert 0 <= accepted <= logged_per_call
            passing = [seq for seq in range(call * rows + rows) if not filtered or seq % 2 == 1]
            expected = passing[:call * logged_per_call + accepted]
            assert sorted(written[thread]) == expected, f"thread {thread}: call {call}, accepted {accepted}"
            total += len(expected)
        assert logger.counts()["event_ids"] == {"e": total}
        assert logger.metrics()["events_logged"] == total

    def test_log_waiting_for_room(self, tmp_path):
        """log() waiting for room when stop() comes: LoggerStoppedError (a RuntimeError), accepted 0."""
        logger = _logger(tmp_path, buffer_bytes=64 * 1024)

        def produce():
            for n in range(10_000):  # far more than the ring holds while the writers wait
                logger.info("e", "m" * 50, n=n)

        (error,) = _stopped_while_waiting(logger, produce)
        assert isinstance(error, LoggerStoppedError) and error.accepted == 0
        assert [e["n"] for e in read_events(tmp_path)] == list(range(logger.counts()["event_ids"]["e"]))

    def test_after_stop(self, tmp_path):
        """log_many() on a stopped logger: LoggerStoppedError, nothing accepted."""
        logger = _logger(tmp_path)
        logger.stop()
        with pytest.raises(LoggerStoppedError) as refused:
            logger.log_many("INFO", ["a"] * 10)
        assert refused.value.accepted == 0


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
        # A field named as a key every line has would write that key twice.
        (lambda c: c.log_many("INFO", ["a"], level=["x"]), ValueError),
        (lambda c: c.log_many("INFO", ["a"], event_id=[1]), ValueError),
        (lambda c: c.log_many("INFO", ["a"], message=["m"]), ValueError),
        # Ids and levels as arrays in the other byte order: a TypeError that says how to convert.
        (lambda c: c.log_many("INFO", np.array([1], dtype=">i8")), TypeError),
        (lambda c: c.log_many(np.array([20], dtype=">i8"), ["a"]), TypeError),
        (lambda c: c.log_many("INFO", np.zeros(1, dtype="i4,i4")), TypeError),
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

    def test_arrays_with_a_byte_order_prefix(self, tmp_path):
        """Ids and levels as arrays whose format names the machine's byte order (ctypes: '<q'), strided."""
        ids = memoryview((ctypes.c_int64 * 4)(5, 6, 7, 8))[::2]
        levels = (ctypes.c_int32 * 2)(20, 20)
        assert ids.format[0] in "<>" and memoryview(levels).format[0] in "<>"
        with _logger(tmp_path) as logger:
            logger.log_many(levels, ids)
        assert [(e["level"], e["event_id"]) for e in read_events(tmp_path)] == [("INFO", 5), ("INFO", 7)]

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


def _raw_lines(tmp_path, log_file="async_buffered_logs"):
    return [line for path in log_paths(tmp_path, log_file)
            for line in path.read_bytes().splitlines(keepends=True)]


# Lengths around the 8- and 16-byte steps of the copies, escapes at the ends of words.
_TEXTS = (["", "a", "abcdefg", "abcdefgh", "abcdefghi", "a" * 15, "a" * 16, "a" * 17, "b" * 31, "c" * 33,
           'quote"first' + "x" * 10, "x" * 15 + "\\", "x" * 7 + "\n" + "y" * 8, "\x00" * 9, "\x7f" * 20,
           "é" * 9, "snow ☃ man ☃☃☃☃", "emoji \U0001f600 x", "\ud800" * 3, "\u2028line\u2029",
           "tab\tin the middle of a long enough text"])


class TestFastPaths:
    def test_str_columns_are_byte_identical_to_log(self, tmp_path):
        """Ids, messages and str fields of every shape give the bytes log() gives."""
        n = len(_TEXTS)
        ids = [t or "empty" for t in _TEXTS]
        messages = [_TEXTS[(i + 3) % n] for i in range(n)] + [None]
        ids.append("x")
        tags = [_TEXTS[(i + 7) % n] for i in range(n + 1)]
        with _logger(tmp_path) as logger:
            logger.log_many("INFO", ids, messages, tag=tags)
            logger.log_many("error", tuple(ids), tuple(messages), tag=tuple(tags))
        lines = _raw_lines(tmp_path)
        expected = [reference_line(level, i, m, {"tag": t})
                    for level in ("INFO", "ERROR") for i, m, t in zip(ids, messages, tags)]
        assert len(lines) == len(expected)
        for line, reference in zip(lines, expected):
            assert_same_line(line, reference)

    def test_equal_ids_are_one_id(self, tmp_path):
        """Equal ids in distinct objects, subclasses and big ints count as one id each."""
        class Name(str):
            pass

        class Number(int):
            pass

        ids = ["".join(["event_", str(i % 3)]) for i in range(30)]
        ids += [Name("event_1"), Number(7), 7, 2**70, -(2**63), "7", "sixteen_bytes_id", "x" * 40]
        with _logger(tmp_path) as logger:
            logger.log_many("INFO", ids)
        assert logger.counts()["event_ids"] == {"event_0": 10, "event_1": 11, "event_2": 10, 7: 2, 2**70: 1,
                                                -(2**63): 1, "7": 1, "sixteen_bytes_id": 1, "x" * 40: 1}
        assert [e["event_id"] for e in read_events(tmp_path)] == [
            i if type(i) in (str, int) else (str(i) if isinstance(i, str) else int(i)) for i in ids]

    def test_filtered_rows_count_nothing(self, tmp_path):
        """Rows below the level leave no id behind in counts()."""
        with _logger(tmp_path, level="INFO") as logger:
            logger.log_many(["DEBUG", "INFO", "DEBUG"], ["a", "b", "c"])
            logger.log_many("DEBUG", ["d"])
        assert logger.counts() == {"levels": {"INFO": 1}, "event_ids": {"b": 1}}

    def test_int_id_arrays(self, tmp_path):
        """Integer arrays of any width as ids, with their extremes."""
        i64 = np.array([0, -1, 2**62, -(2**63), 2**63 - 1], dtype=np.int64)
        u64 = np.array([2**64 - 1, 2**63, 5], dtype=np.uint64)
        i8 = np.array([-128, 127], dtype=np.int8)
        with _logger(tmp_path) as logger:
            for ids in (i64, u64, i8, array.array("i", [3, 3, 4])):
                logger.log_many("INFO", ids)
        expected = [int(v) for ids in (i64, u64, i8, [3, 3, 4]) for v in ids]
        assert [e["event_id"] for e in read_events(tmp_path)] == expected
        assert logger.counts()["event_ids"] == {v: expected.count(v) for v in expected}

    def test_numpy_columns_are_byte_identical_to_log(self, tmp_path):
        """int64 and float64 columns are written as log() writes the same Python numbers."""
        floats = np.array([0.1, 1 / 3, 1e16, 1e-7, 5e-324, 1.7976931348623157e308, -0.0, 2.5, 1e22,
                           123456789.0, -1.5e-300, math.inf, math.nan])
        ints = np.array([0, -1, 2**63 - 1, -(2**63), 10**18, 7, 8, 9, 10, 11, 12, 13, 14], dtype=np.int64)
        ids = [f"e{i}" for i in range(len(floats))]
        with _logger(tmp_path) as logger:
            logger.log_many("INFO", ids, f=floats, i=ints)
        for line, event_id, f, i in zip(_raw_lines(tmp_path), ids, floats, ints):
            assert_same_line(line, reference_line("INFO", event_id, None, {"f": float(f), "i": int(i)}))

    def test_odd_message_and_field_values(self, tmp_path):
        """Non-str messages and fields of every kind, mixed with str ones, in a long batch."""
        values = [1, None, "s", 2.5, True, 2**80, b"raw", object, "t" * 20]
        n = 3 * 16384 + 5  # several chunks
        messages = [values[i % len(values)] for i in range(n)]
        with _logger(tmp_path) as logger:
            logger.log_many("INFO", ["e"] * n, messages, v=list(reversed(messages)))
        for line, m, v in zip(_raw_lines(tmp_path), messages, reversed(messages)):
            assert_same_line(line, reference_line("INFO", "e", m, {"v": v}))

    def test_chunks_and_segment_ends(self, tmp_path):
        """Many chunks in small segments, with a few rows far longer than the rest."""
        n = 50_000
        messages = [("m" * 5000 if i % 9973 == 0 else f"message {i}") for i in range(n)]
        with _logger(tmp_path, buffer_bytes=256 * 1024) as logger:
            logger.log_many("INFO", [f"id{i % 7}" for i in range(n)], messages, seq=np.arange(n))
        events = read_events(tmp_path)
        assert [e["seq"] for e in events] == list(range(n))
        assert [e["message"] for e in events] == messages
        assert sum(logger.counts()["event_ids"].values()) == n

    def test_ids_past_the_distinct_id_bound(self, tmp_path):
        """Ids past MAX_EVENT_IDS are counted as the overflow id and written as themselves."""
        n = 65536 + 10
        with _logger(tmp_path) as logger:
            logger.log_many("INFO", [f"id{i}" for i in range(n)])
            logger.log_many("INFO", ["id0", f"id{n - 1}"])
        counts = logger.counts()["event_ids"]
        assert counts["__overflow__"] == 11
        assert counts["id0"] == 2
        assert [e["event_id"] for e in read_events(tmp_path)][-2:] == ["id0", f"id{n - 1}"]

    def test_ids_past_the_bound_in_one_batch(self, tmp_path):
        """Past the bound in one batch: known ids keep their counts, the rest are written as themselves."""
        n = 70_000
        ids = [f"id{i}" for i in range(n)] + ['q"uote\u00e9', "known", "id5"]
        with _logger(tmp_path) as logger:
            logger.info("known")
            logger.log_many("INFO", ids)
        counts = logger.counts()["event_ids"]
        assert counts["known"] == 2 and counts["id5"] == 2
        assert counts["__overflow__"] == n + 3 - (65536 - 1) - 2  # "known" took a slot before
        lines = _raw_lines(tmp_path)[1:]
        for line, event_id in zip(lines[-4:], ids[-4:]):
            assert_same_line(line, reference_line("INFO", event_id, None, {}))

    def test_lists_changed_by_another_thread(self, tmp_path):
        """Another thread changing the lists during log_many(): whole lines or an error, never a crash."""
        n = 400_000
        for change in ("replace", "append", "shrink", "odd values"):
            ids = [f"event_{i % 100}" for i in range(n)]
            messages = [f"message {i}" for i in range(n)]
            started, done = threading.Event(), threading.Event()

            def mutate(change=change, ids=ids, messages=messages, started=started, done=done):
                # Runs once log_many() lets the GIL go: its checks before that hold it throughout.
                started.wait()
                i = 0
                while not done.is_set():
                    k = (i * 7919) % len(messages) if messages else 0
                    if change == "replace":
                        messages[k] = f"replaced {i}"
                        ids[k] = f"other_{i % 50}"
                    elif change == "append":
                        messages.append("more")
                        ids.append("more")
                    elif change == "shrink" and len(messages) > 1000:
                        del messages[-1000:]
                    elif change == "odd values":
                        messages[k] = i
                    i += 1

            with _logger(tmp_path, log_file=change.replace(" ", "_")) as logger:
                thread = threading.Thread(target=mutate)
                thread.start()
                try:
                    started.set()
                    logger.log_many("INFO", ids, messages)
                except RuntimeError as error:
                    assert "during log_many()" in str(error)
                except ValueError as error:  # changed before the call looked: a clean error too
                    assert "values for" in str(error)
                finally:
                    done.set()
                    thread.join()
            events = read_events(tmp_path, change.replace(" ", "_"))
            assert sum(logger.counts()["event_ids"].values()) == len(events)

    @pytest.mark.parametrize("buffer_bytes", [256 * 1024, 64 * 1024 * 1024])
    def test_late_odd_message_is_converted(self, tmp_path, buffer_bytes):
        """A non-str message chunks into the batch: every row still written once, converted as log() does."""
        n = 60_000
        messages = [f"m{i}" for i in range(n)]
        messages[45_000] = 12.5
        with _logger(tmp_path, buffer_bytes=buffer_bytes) as logger:
            logger.log_many("INFO", [f"e{i % 3}" for i in range(n)], messages)
        events = read_events(tmp_path)
        assert [e["message"] for e in events] == [str(m) for m in messages]
        assert logger.counts()["event_ids"] == {"e0": n // 3, "e1": n // 3, "e2": n // 3}

    @pytest.mark.parametrize("buffer_bytes", [256 * 1024, 64 * 1024 * 1024])
    def test_late_failing_message_writes_nothing(self, tmp_path, buffer_bytes):
        """A message whose str() fails, late in a batch: an error before any row is written."""
        class Broken:
            def __str__(self):
                raise ZeroDivisionError("no text")

        n = 60_000
        messages = [f"m{i}" for i in range(n)]
        messages[-1] = Broken()
        with _logger(tmp_path, buffer_bytes=buffer_bytes) as logger:
            logger.info("ok")
            with pytest.raises(ZeroDivisionError):
                logger.log_many("INFO", ["e"] * n, messages)
            logger.info("ok")
        assert [e["event_id"] for e in read_events(tmp_path)] == ["ok", "ok"]
        assert logger.counts()["event_ids"] == {"ok": 2}

    def test_failing_message_of_a_filtered_batch(self, tmp_path):
        """A batch below the level still converts its messages, so a failing str() still raises."""
        class Broken:
            def __str__(self):
                raise ZeroDivisionError("no text")

        with _logger(tmp_path, level="ERROR") as logger:
            logger.log_many("INFO", ["a", "b"], ["fine", 1])
            with pytest.raises(ZeroDivisionError):
                logger.log_many("INFO", ["a", "b"], ["fine", Broken()])
        assert logger.counts()["event_ids"] == {}
