"""EventLogCounter and the module-level default logger: exactness, flush/stop, levels, counts, bad input."""

import collections
import json
import logging
import math
import os
import textwrap
import threading

import pytest
from support import log_paths, read_events, run_python

import fastevlog
from fastevlog import EventLogCounter


class TestExactness:
    def test_twenty_threads_every_event_exactly_once(self, tmp_path):
        """20 producer threads: every event once, counts exact, every line has the four keys."""
        threads, per_thread = 20, 5000
        with EventLogCounter(directory=tmp_path, buffer_bytes=256 * 1024, max_file_size=200_000,
                             flush_interval=0.02) as logger:
            def produce(t):
                for n in range(per_thread):
                    i = t * per_thread + n
                    event_id = f"event_{i % 1000}"
                    logger.log("INFO" if i % 2 == 0 else "ERROR", event_id, f"Event {event_id} occurred.",
                               seq=i, thread=t)

            workers = [threading.Thread(target=produce, args=(t,)) for t in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        total = threads * per_thread
        events = read_events(tmp_path)
        assert sorted(e["seq"] for e in events) == list(range(total))
        for e in events:
            assert list(e)[:4] == ["timestamp", "level", "event_id", "message"]
            assert e["level"] == ("INFO" if e["seq"] % 2 == 0 else "ERROR")
            assert e["event_id"] == f"event_{e['seq'] % 1000}"
        counts = logger.counts()
        assert counts["levels"] == {"INFO": total // 2, "ERROR": total // 2}
        assert counts["event_ids"] == {f"event_{k}": total // 1000 for k in range(1000)}
        metrics = logger.metrics()
        assert metrics["events_logged"] == metrics["events_written"] == total
        assert metrics["bytes_written"] == sum(p.stat().st_size for p in log_paths(tmp_path))
        assert metrics["files_written"] == len(log_paths(tmp_path)) > 1
        assert metrics["dropped"] == metrics["write_failures"] == 0
        assert metrics["buffer_full_waits"] >= 0

    def test_each_thread_keeps_its_order(self, tmp_path):
        """Events of one thread appear in the files in the order it logged them."""
        with EventLogCounter(directory=tmp_path, buffer_bytes=64 * 1024, num_workers=4) as logger:
            def produce(t):
                for n in range(3000):
                    logger.info("e", thread=t, n=n)

            workers = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        seen = collections.defaultdict(list)
        for e in read_events(tmp_path):
            seen[e["thread"]].append(e["n"])
        assert all(ns == list(range(3000)) for ns in seen.values()) and len(seen) == 4


class TestFlushAndStop:
    def test_flush_returns_when_written(self, tmp_path):
        """flush() returns once earlier events are in the files, long before flush_interval."""
        with EventLogCounter(directory=tmp_path, flush_interval=3600) as logger:
            for i in range(1000):
                logger.info("e", seq=i)
            logger.flush()
            assert [e["seq"] for e in read_events(tmp_path)] == list(range(1000))
            logger.info("e", seq=1000)
            logger.flush()
            assert len(read_events(tmp_path)) == 1001

    def test_flush_from_many_threads(self, tmp_path):
        """Concurrent flush() calls each see their own events written."""
        with EventLogCounter(directory=tmp_path, flush_interval=3600) as logger:
            errors = []

            def complete_events():
                # Other threads' flushes may be writing meanwhile: a live file can end mid-line, but
                # never holds a hole (NUL bytes) before its end.
                events = []
                for path in log_paths(tmp_path):
                    data = path.read_bytes()
                    complete = data[:data.rfind(b"\n") + 1]
                    assert b"\0" not in complete, f"{path.name} holds NUL bytes"
                    events.extend(json.loads(line) for line in complete.splitlines())
                return events

            def produce(t):
                try:
                    for n in range(200):
                        logger.info("e", seq=t * 1000 + n)
                    logger.flush()
                    mine = [e for e in complete_events() if e["seq"] // 1000 == t]
                    if len(mine) != 200:
                        errors.append((t, len(mine)))
                except Exception as error:  # a thread's failure is the test's
                    errors.append((t, repr(error)))

            workers = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            assert errors == []

    def test_interval_flushes_without_a_call(self, tmp_path):
        """Pending events reach a file within flush_interval without flush()."""
        with EventLogCounter(directory=tmp_path, flush_interval=0.05) as logger:
            logger.info("e")
            for _ in range(200):
                if logger.metrics()["events_written"] == 1:
                    break
                threading.Event().wait(0.01)
            assert logger.metrics()["events_written"] == 1

    def test_buffer_size_events_trigger_a_flush(self, tmp_path):
        """buffer_size pending events seal the segment: they are written without flush()."""
        with EventLogCounter(directory=tmp_path, buffer_size=10, flush_interval=3600) as logger:
            for i in range(25):
                logger.info("e", seq=i)
            for _ in range(500):
                if logger.metrics()["events_written"] == 20:
                    break
                threading.Event().wait(0.01)
            assert logger.metrics()["events_written"] == 20
            assert [e["seq"] for e in read_events(tmp_path)] == list(range(20))

    def test_stop_is_idempotent_and_final(self, tmp_path):
        """stop() twice is fine; afterwards log() raises and counts/metrics still answer."""
        logger = EventLogCounter(directory=tmp_path)
        logger.warning("e", "m")
        buffer_path = logger.buffer_path
        assert os.path.exists(buffer_path)
        logger.stop()
        logger.stop()
        assert not os.path.exists(buffer_path)
        with pytest.raises(RuntimeError):
            logger.log("INFO", "e")
        with pytest.raises(RuntimeError):
            logger.info("e")
        logger.flush()  # nothing pending: a no-op
        assert logger.counts() == {"levels": {"WARNING": 1}, "event_ids": {"e": 1}}
        assert logger.metrics()["events_written"] == 1
        assert len(read_events(tmp_path)) == 1

    def test_context_manager_stops(self, tmp_path):
        """Leaving the with block stops the logger and writes everything."""
        with EventLogCounter(directory=tmp_path, flush_interval=3600) as logger:
            logger.info("e")
        with pytest.raises(RuntimeError):
            logger.info("e")
        assert len(read_events(tmp_path)) == 1

    def test_no_event_no_file(self, tmp_path):
        """A logger that logged nothing leaves no log file and no buffer file."""
        EventLogCounter(directory=tmp_path).stop()
        assert list(tmp_path.iterdir()) == []


class TestLevels:
    def test_filtered_levels_are_skipped(self, tmp_path):
        """Below `level`: not written, not counted; names and stdlib ints both work."""
        with EventLogCounter(directory=tmp_path, level="warning") as logger:
            logger.debug("d")
            logger.info("i")
            logger.log(20, "i")
            logger.log("Warning", "w")
            logger.log(40, "e")
            logger.critical("c")
        assert [e["level"] for e in read_events(tmp_path)] == ["WARNING", "ERROR", "CRITICAL"]
        assert logger.counts()["levels"] == {"WARNING": 1, "ERROR": 1, "CRITICAL": 1}
        assert logger.metrics()["events_logged"] == 3

    def test_int_level_threshold(self, tmp_path):
        """level may be the stdlib's int."""
        with EventLogCounter(directory=tmp_path, level=40) as logger:
            logger.warning("w")
            logger.error("e")
        assert [e["level"] for e in read_events(tmp_path)] == ["ERROR"]


class TestCounts:
    def test_int_and_str_ids_are_distinct(self, tmp_path):
        """7 and "7" are different event ids; an int id is written as a number."""
        with EventLogCounter(directory=tmp_path) as logger:
            logger.info(7)
            logger.info("7")
            logger.info(7)
        assert logger.counts()["event_ids"] == {7: 2, "7": 1}
        assert [e["event_id"] for e in read_events(tmp_path)] == [7, "7", 7]

    def test_distinct_ids_are_bounded(self, tmp_path):
        """Past 65,536 distinct ids, new ids are counted under the overflow key."""
        extra = 100
        with EventLogCounter(directory=tmp_path, flush_interval=3600) as logger:
            for k in range(65536 + extra):
                logger.info(k)
            logger.info(0)
            logger.info(65536)  # arrived after the bound: overflow again
        ids = logger.counts()["event_ids"]
        assert len(ids) == 65536 + 1
        assert ids[0] == 2
        assert ids[fastevlog.OVERFLOW_EVENT_ID] == extra + 1
        assert sum(ids.values()) == 65536 + extra + 2
        assert len(read_events(tmp_path)) == 65536 + extra + 2


class TestBadInput:
    @pytest.mark.parametrize("parameters", [
        {"buffer_size": 0}, {"buffer_size": -1},
        {"buffer_bytes": 64 * 1024 - 1}, {"buffer_bytes": 0},
        {"flush_interval": 0}, {"flush_interval": -1}, {"flush_interval": math.nan},
        {"flush_interval": math.inf},
        {"max_file_size": 0}, {"num_workers": 0}, {"max_retries": -1},
        {"on_full": "wait"}, {"rotate_every": "weekly"}, {"level": "VERBOSE"}, {"level": 26},
        {"log_file": ""}, {"log_file": "a/b"}, {"log_file": ".."},
    ])
    def test_nonsensical_parameters(self, tmp_path, parameters):
        """Each nonsensical parameter is a ValueError at construction, with nothing left behind."""
        with pytest.raises(ValueError):
            EventLogCounter(directory=tmp_path, **parameters)
        assert list(tmp_path.iterdir()) == []

    def test_directory_in_the_way(self, tmp_path):
        """A directory that cannot be created is an OSError at construction."""
        (tmp_path / "file").write_text("x")
        with pytest.raises(OSError):
            EventLogCounter(directory=tmp_path / "file" / "logs")

    @pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
    def test_directory_not_writable(self):
        """A directory where files cannot be created is an OSError at construction, even for root."""
        with pytest.raises(OSError):
            EventLogCounter(directory="/proc/self")

    def test_bad_calls_lose_nothing(self, tmp_path):
        """Bad levels and event ids raise clear errors; events logged around them all land."""
        with EventLogCounter(directory=tmp_path) as logger:
            logger.info("ok", seq=0)
            with pytest.raises(ValueError, match=r"DEBUG \(10\), INFO \(20\), .*CRITICAL \(50\)"):
                logger.log("LOUD", "e")
            with pytest.raises(TypeError, match="event_id"):
                logger.info(None)
            with pytest.raises(TypeError, match="event_id"):
                logger.info(True)
            with pytest.raises(ValueError, match="timestamp"):
                logger.info("e", timestamp="now")

            class Unprintable:
                def __str__(self):
                    raise RuntimeError("no str for you")

            with pytest.raises(RuntimeError, match="no str for you"):
                logger.info("e", value=Unprintable())
            logger.info("ok", seq=1)
        assert [e["seq"] for e in read_events(tmp_path)] == [0, 1]
        assert logger.counts()["event_ids"] == {"ok": 2}


class TestFullBuffer:
    def _slow_writer(self, logger, gate):
        pool = logger._scheduler.pool

        def pwritev(fd, buffers, offset):
            gate.wait()
            return os.pwritev(fd, buffers, offset)

        pool.pwritev = pwritev

    def test_drop_counts_exactly_what_is_missing(self, tmp_path, caplog):
        """on_full="drop": events missing from the files == metrics()["dropped"], reported on "fastevlog"."""
        caplog.set_level(logging.WARNING, logger="fastevlog")
        gate = threading.Event()
        attempts = 5000
        with EventLogCounter(directory=tmp_path, buffer_bytes=64 * 1024, on_full="drop") as logger:
            self._slow_writer(logger, gate)
            for i in range(attempts):
                logger.info("e", "x" * 100, seq=i)
            gate.set()
        metrics = logger.metrics()
        written = [e["seq"] for e in read_events(tmp_path)]
        assert metrics["dropped"] > 0
        assert len(written) == len(set(written)) == metrics["events_logged"] == metrics["events_written"]
        assert attempts - len(written) == metrics["dropped"]
        assert written == sorted(written)
        reported = [r for r in caplog.records if r.getMessage().startswith("dropped")]
        assert sum(int(r.getMessage().split()[1]) for r in reported) == metrics["dropped"]

    def test_block_waits_and_loses_nothing(self, tmp_path):
        """on_full="block": producers wait for the slow writer; nothing dropped."""
        gate = threading.Event()
        with EventLogCounter(directory=tmp_path, buffer_bytes=64 * 1024, on_full="block") as logger:
            self._slow_writer(logger, gate)
            threading.Timer(0.3, gate.set).start()
            for i in range(5000):
                logger.info("e", "x" * 100, seq=i)
        assert [e["seq"] for e in read_events(tmp_path)] == list(range(5000))
        assert logger.metrics()["dropped"] == 0
        assert logger.metrics()["buffer_full_waits"] >= 1  # ~560 KB through a 64 KiB ring held shut


class TestInternalLogger:
    def test_flushes_are_debug(self, tmp_path, caplog):
        """With INFO captured (logging.basicConfig(level=INFO)), flushing prints nothing; DEBUG has them."""
        caplog.set_level(logging.INFO, logger="fastevlog")
        with EventLogCounter(directory=tmp_path) as logger:
            for seq in range(3):
                logger.info("e", seq=seq)
                logger.flush()
            assert logger.metrics()["flushes"] >= 3
        assert [r.getMessage() for r in caplog.records if "flushed" in r.getMessage()] == []
        caplog.clear()
        caplog.set_level(logging.DEBUG, logger="fastevlog")
        with EventLogCounter(directory=tmp_path) as logger:
            logger.info("e")
            logger.flush()
        assert [r.levelno for r in caplog.records if "flushed" in r.getMessage()] == [logging.DEBUG]


class TestDefaultLogger:
    def test_configure_log_flush_stop(self, tmp_path):
        """The module-level functions drive the default logger."""
        logger = fastevlog.configure(directory=tmp_path, log_file="default")
        try:
            assert fastevlog.get_logger() is logger
            fastevlog.log("INFO", "e", "m", k=1)
            fastevlog.flush()
            assert read_events(tmp_path, "default")[0]["k"] == 1
        finally:
            fastevlog.stop()
        with pytest.raises(RuntimeError):
            fastevlog.log("INFO", "e")
        fastevlog.configure(directory=tmp_path, log_file="second")
        fastevlog.log("INFO", "e")
        fastevlog.stop()
        assert len(read_events(tmp_path, "second")) == 1

    def test_interpreter_exit_writes_pending_events(self, tmp_path):
        """Events pending at interpreter exit are written, for the default and any other logger."""
        script = textwrap.dedent(f"""
            import fastevlog
            fastevlog.configure(directory={str(tmp_path)!r}, log_file="default", flush_interval=3600)
            other = fastevlog.EventLogCounter(directory={str(tmp_path)!r}, log_file="other",
                                              flush_interval=3600)
            for i in range(1000):
                fastevlog.log("INFO", "e", seq=i)
                other.info("e", seq=i)
        """)
        run_python(script, tmp_path, check=True, timeout=60)
        for name in ("default", "other"):
            assert [e["seq"] for e in read_events(tmp_path, name)] == list(range(1000))
        assert not list(tmp_path.glob("*.buffer"))


def test_public_names_are_the_documented_api():
    """The logger exposes its API and nothing of the ring or the scheduler (they are underscored)."""
    public = [name for name in dir(fastevlog.EventLogCounter) if not name.startswith("_")]
    assert public == ["bind", "buffer_path", "closed", "counts", "critical", "debug", "error", "exception",
                      "flush", "info", "log", "log_many", "metrics", "stop", "warning"]


@pytest.mark.parametrize("buffer_bytes", [64 * 1024, 3 * 1024 * 1024 + 5, 32 * 1024 * 1024])
def test_metrics_buffer_bytes_is_the_ring_capacity(tmp_path, buffer_bytes):
    """metrics()["buffer_bytes"]: what the ring holds, at most buffer_bytes, and in_use never above it."""
    with EventLogCounter(directory=tmp_path, buffer_bytes=buffer_bytes) as logger:
        count, size = fastevlog._logger.ring_geometry(buffer_bytes)
        metrics = logger.metrics()
        assert metrics["buffer_bytes"] == count * size <= buffer_bytes
        assert metrics["buffer_bytes"] > buffer_bytes - 1024 * 1024  # rounded down by less than a segment
        assert 0 <= metrics["buffer_bytes_in_use"] <= metrics["buffer_bytes"]
