"""The writer pool: retries, held pieces, short and interrupted writes, order, stop and recovery."""

import collections
import errno
import functools
import json
import logging
import os
import random
import textwrap
import threading
import time
from datetime import datetime, timezone

import pytest
import support

import fastevlog

LOG_FILE = "app"
log_paths = functools.partial(support.log_paths, log_file=LOG_FILE)
read_events = functools.partial(support.read_events, log_file=LOG_FILE)
lines_of = support.lines_of

FROZEN = datetime(2026, 11, 28, 16, 3, 5, tzinfo=timezone.utc).timestamp()





def seqs(directory, log_file="app"):
    return [e["seq"] for e in read_events(directory, log_file=log_file)]


def make(tmp_path, pwritev=None, retry_delay=0.001, **kwargs):
    kwargs.setdefault("log_file", "app")
    kwargs.setdefault("directory", str(tmp_path))
    kwargs.setdefault("flush_interval", 0.05)
    c = fastevlog.EventLogCounter(**kwargs)
    if pwritev is not None:
        c._scheduler.pool.pwritev = pwritev
    c._scheduler.pool.retry_delay = retry_delay
    return c


def records(caplog, level, text=""):
    return [r for r in caplog.records
            if r.name == "fastevlog" and r.levelno == level and text in r.getMessage()]


class Counted:
    """Base for fault-injecting pwritev replacements: counts calls thread-safely.

    Like os.pwritev, a replacement must not keep the buffer views it is given
    alive after it returns or raises: the raised exception's traceback holds
    the replacement's frame (and caplog holds the exception), so each one
    drops ``buffers`` before raising.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0
        self.faults = 0

    def next_call(self) -> int:
        with self.lock:
            self.calls += 1
            return self.calls


class FailFirst(Counted):
    """Fails the first ``count`` calls with ``code``, then writes normally."""

    def __init__(self, count: int, code: int = errno.ENOSPC) -> None:
        super().__init__()
        self.count = count
        self.code = code

    def __call__(self, fd, buffers, offset):
        if self.next_call() <= self.count:
            del buffers
            with self.lock:
                self.faults += 1
            raise OSError(self.code, os.strerror(self.code))
        return os.pwritev(fd, buffers, offset)


class FailWhile(Counted):
    """Fails with ``code`` while ``failing`` is set."""

    def __init__(self, code: int = errno.EIO) -> None:
        super().__init__()
        self.code = code
        self.failing = threading.Event()
        self.failing.set()

    def __call__(self, fd, buffers, offset):
        self.next_call()
        if self.failing.is_set():
            del buffers
            with self.lock:
                self.faults += 1
            raise OSError(self.code, os.strerror(self.code))
        return os.pwritev(fd, buffers, offset)


class Short(Counted):
    """Writes at most ``most`` bytes per call; optionally interrupted every ``every`` calls."""

    def __init__(self, most: int, every: int = 0) -> None:
        super().__init__()
        self.most = most
        self.every = every

    def __call__(self, fd, buffers, offset):
        n = self.next_call()
        if self.every and n % self.every == 0:
            del buffers
            with self.lock:
                self.faults += 1
            raise InterruptedError(errno.EINTR, "interrupted")
        return os.pwrite(fd, buffers[0][:self.most], offset)  # part of the first buffer at most


class TestRetriesThatSucceed:
    """Failed attempts are retried, and data is written once when a retry succeeds."""

    def test_enospc_twice_then_ok(self, tmp_path, caplog):
        """Two ENOSPC failures, max_retries=3: written once, 2 retries, 2 failures, no CRITICAL."""
        caplog.set_level(logging.INFO, logger="fastevlog")
        fault = FailFirst(2, errno.ENOSPC)
        n = 500
        with make(tmp_path, fault, max_retries=3) as c:
            for i in range(n):
                c.info("e", seq=i)
            c.flush()
            m = c.metrics()
        assert seqs(tmp_path) == list(range(n))
        assert m["events_written"] == m["events_logged"] == n
        assert m["retries"] == 2
        assert m["write_failures"] == 2
        assert fault.faults == 2
        assert records(caplog, logging.CRITICAL) == []
        failed = records(caplog, logging.ERROR, "failed")
        assert len(failed) == 2
        assert all("No space left on device" in r.getMessage() for r in failed)


class TestRuns:
    """Pieces queued end to end in one file go out in one pwritev."""

    def test_queued_segments_share_one_write(self, tmp_path):
        gate = threading.Event()
        buffers_per_call = []

        def pwritev(fd, buffers, offset):
            gate.wait()
            buffers_per_call.append(len(buffers))
            return os.pwritev(fd, buffers, offset)

        # 4 segments of 256 KiB; ~3 of them sealed while the first write is held back.
        n = 5000
        with make(tmp_path, pwritev, num_workers=1, buffer_bytes=1024 * 1024, flush_interval=60) as c:
            for i in range(n):
                c.info("e", "x" * 100, seq=i)
            deadline = time.monotonic() + 5
            while c.metrics()["flushes"] < 3 and time.monotonic() < deadline:
                time.sleep(0.01)  # the sealed segments are handed to the pool
            time.sleep(0.05)
            gate.set()
            c.flush()
            m = c.metrics()
        assert seqs(tmp_path) == list(range(n))
        assert m["flushes"] >= 3
        assert max(buffers_per_call) >= 2, buffers_per_call
        assert len(buffers_per_call) < m["flushes"]


class TestBufferPwritev:
    """The writers' pwritev: os.pwritev's contract (producers let the writer back in afterwards)."""

    def test_writes_like_os_pwritev(self, tmp_path):
        path = tmp_path / "f"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            with make(tmp_path / "logs") as c:
                assert c._scheduler.pool.pwritev == c._ring.pwritev
                assert c._ring.pwritev(fd, [memoryview(b"abc"), b"de", bytearray(b"f")], 0) == 6
                assert c._ring.pwritev(fd, [b"XY"], 4) == 2
                with pytest.raises(OSError) as raised:
                    c._ring.pwritev(-1, [b"x"], 0)
                assert raised.value.errno == errno.EBADF
                with pytest.raises(ValueError, match="1 to 1024 buffers"):
                    c._ring.pwritev(fd, [], 0)
                with pytest.raises(TypeError):
                    c._ring.pwritev(fd, ["not bytes"], 0)
        finally:
            os.close(fd)
        assert path.read_bytes() == b"abcdXY"


class TestEveryRetryFails:
    """Writes failing every retry raise WriteError, are held, and are written by a later flush."""

    @pytest.mark.parametrize("max_file_size", [10 * 1024 * 1024, 2000], ids=["one-piece", "many-files"])
    def test_write_error_then_written_on_next_flush(self, tmp_path, caplog, max_file_size):
        """flush() raises WriteError while EIO lasts; the next flush writes every event once."""
        caplog.set_level(logging.INFO, logger="fastevlog")
        fault = FailWhile(errno.EIO)
        n = 300
        # A long flush_interval: only the explicit flush() calls below retry held pieces.
        with make(tmp_path, fault, max_retries=2, flush_interval=60, max_file_size=max_file_size) as c:
            for i in range(n):
                c.info("e", seq=i)
            with pytest.raises(fastevlog.WriteError):
                c.flush()
            assert records(caplog, logging.CRITICAL, "giving up")
            # flush() raised at the first piece that gave up; let the others finish their
            # round too (test_late_failure_does_not_fail_next_flush covers not waiting).
            # Every piece (at least one per file) gives up after 1 + max_retries attempts,
            # made for it alone or for a run of pieces end to end in one file.
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                pieces = c._scheduler.pending_failures
                failures = c.metrics()["write_failures"]
                if pieces and failures % 3 == 0 and failures == fault.faults:
                    time.sleep(0.05)
                    if c._scheduler.pending_failures == pieces and c.metrics()["write_failures"] == failures:
                        break
                time.sleep(0.005)
            assert pieces >= c.metrics()["files_written"]
            m = c.metrics()
            assert m["events_logged"] == n
            assert m["events_written"] == 0
            assert m["dropped"] == 0
            # Per write: 1 attempt + max_retries retries, all failed; each failure counted once.
            writes = m["write_failures"] // 3
            assert 1 <= writes <= pieces
            assert (m["write_failures"], m["retries"]) == (3 * writes, 2 * writes)
            assert fault.faults == m["write_failures"]
            if max_file_size == 2000:
                # The segment spans more files than its placement slots: the first
                # pieces are placed (and fail) while the rest waits for them.
                assert pieces == fastevlog._core.PLACEMENT_SLOTS

            fault.failing.clear()
            c.flush()
            m = c.metrics()
            assert m["events_written"] == n
            assert c._scheduler.pending_failures == 0
        assert seqs(tmp_path) == list(range(n))
        m = c.metrics()
        # Nothing failed after the flag was cleared: the counts are those of the first round.
        gave_up = len(records(caplog, logging.CRITICAL, "giving up"))
        assert gave_up == writes
        assert (m["write_failures"], m["retries"]) == (3 * writes, 2 * writes)
        assert m["write_failures"] == fault.faults
        assert len(records(caplog, logging.ERROR, "failed")) == m["retries"]
        assert m["bytes_written"] == sum(p.stat().st_size for p in log_paths(tmp_path))

    def test_late_failure_does_not_fail_next_flush(self, tmp_path):
        """A flush() called once the fault is gone returns, though an older attempt gives up during it."""
        failing = threading.Event()
        failing.set()
        b_entered, b_release = threading.Event(), threading.Event()

        def pwritev(fd, buffers, offset):
            if failing.is_set():
                del buffers
                if os.readlink(f"/proc/self/fd/{fd}").endswith("_000001.log"):
                    b_entered.set()  # piece B: its attempt started while the disk failed,
                    b_release.wait(5)  # and reports so only later
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            return os.pwritev(fd, buffers, offset)

        n = 25  # 126-byte lines: 15 fill the first 2000-byte file, 10 go to a second: pieces A and B
        c = make(tmp_path, pwritev, max_retries=0, num_workers=2, flush_interval=60,
                 max_file_size=2000, clock=lambda: FROZEN)
        try:
            for i in range(n):
                c.info("e", "x" * 30, seq=i)
            with pytest.raises(fastevlog.WriteError):
                c.flush()  # piece A gave up
            assert b_entered.wait(5)
            assert c.metrics()["files_written"] == 2
            failing.clear()  # the disk is fine again; B's old attempt has not reported yet

            outcome = []

            def flush():
                try:
                    c.flush()
                    outcome.append(None)
                except BaseException as error:  # reported below
                    outcome.append(error)

            thread = threading.Thread(target=flush, daemon=True)
            thread.start()
            first = log_paths(tmp_path)[0]
            deadline = time.monotonic() + 5
            while first.stat().st_size == 0 and time.monotonic() < deadline:
                time.sleep(0.005)  # this flush has retried A: it is under way
            assert first.stat().st_size > 0
            b_release.set()  # B's pre-flush attempt now gives up
            thread.join(10)
            assert not thread.is_alive()
            assert outcome == [None], f"flush() after the fault cleared raised {outcome[0]!r}"
        finally:
            b_release.set()
            failing.clear()
            try:
                c.flush()
            except fastevlog.WriteError:
                c.flush()
            c.stop()
        assert seqs(tmp_path) == list(range(n))

    def test_held_pieces_retried_on_next_tick(self, tmp_path, caplog):
        """Without any flush() call, the next flush_interval tick retries the held pieces."""
        caplog.set_level(logging.INFO, logger="fastevlog")
        fault = FailWhile(errno.EIO)
        n = 200
        with make(tmp_path, fault, max_retries=1, flush_interval=0.05) as c:
            for i in range(n):
                c.info("e", seq=i)
            deadline = time.monotonic() + 5
            while not records(caplog, logging.CRITICAL, "giving up") and time.monotonic() < deadline:
                time.sleep(0.01)
            assert records(caplog, logging.CRITICAL, "giving up")
            assert c._scheduler.pending_failures >= 1 or c.metrics()["events_written"] < n
            fault.failing.clear()
            deadline = time.monotonic() + 5
            while c.metrics()["events_written"] < n and time.monotonic() < deadline:
                time.sleep(0.01)
            assert c.metrics()["events_written"] == n
            assert c._scheduler.pending_failures == 0
        assert seqs(tmp_path) == list(range(n))


class TestShortWrites:
    """pwritev writing fewer bytes than asked is continued where it stopped."""

    def _run(self, directory, pwritev, n=400):
        with make(directory, pwritev, max_file_size=2000, clock=lambda: FROZEN) as c:
            for i in range(n):
                c.info("e", "short write test", seq=i, text="é" * (i % 5))
            c.flush()
            return c.metrics()

    def test_seven_bytes_at_a_time(self, tmp_path):
        """At most 7 bytes per call gives the same files and lines as a normal run."""
        normal_dir, short_dir = tmp_path / "normal", tmp_path / "short"
        self._run(normal_dir, None)
        fault = Short(7)
        m = self._run(short_dir, fault)
        assert fault.calls > 1000
        assert m["write_failures"] == 0 and m["retries"] == 0
        assert [p.name for p in log_paths(short_dir)] == [p.name for p in log_paths(normal_dir)]
        assert [p.stat().st_size for p in log_paths(short_dir)] == \
            [p.stat().st_size for p in log_paths(normal_dir)]

        def strip(events):
            return [{k: v for k, v in e.items() if k != "timestamp"} for e in events]

        assert strip(read_events(short_dir)) == strip(read_events(normal_dir))
        assert seqs(short_dir) == list(range(400))


class TestInterruptedWrites:
    """InterruptedError is a failed attempt: counted, retried, and the output stays intact."""

    def test_interrupted_calls_are_retried(self, tmp_path, caplog):
        """Every 3rd call raises InterruptedError mid-piece; all lines are whole and present once."""
        caplog.set_level(logging.INFO, logger="fastevlog")
        # Pieces are at most 5000 bytes, written 1000 at a time: at most 3 interruptions
        # per piece, within max_retries (the budget counts every failure of a piece).
        fault = Short(1000, every=3)
        n = 400
        with make(tmp_path, fault, max_retries=3, num_workers=1, max_file_size=5000) as c:
            for i in range(n):
                c.info("e", seq=i)
            c.flush()
            m = c.metrics()
        assert fault.faults > 10
        assert seqs(tmp_path) == list(range(n))
        assert m["write_failures"] == m["retries"] == fault.faults
        assert records(caplog, logging.CRITICAL) == []
        assert len(records(caplog, logging.ERROR, "failed")) == fault.faults


class TestFileOrder:
    """A file grows only as a prefix: a held piece holds back the rest of its file, not other files."""

    def test_held_piece_blocks_only_its_file(self, tmp_path):
        """Writes over byte 10,000 of the first file fail every retry: it stops there, the others go on."""
        first_name = f"app_{datetime.fromtimestamp(FROZEN, timezone.utc):%Y%m%d_%H%M%S}.log"
        bad_byte = 10_000
        failing = threading.Event()
        failing.set()

        def bad_sector(fd, buffers, offset):
            size = sum(len(buffer) for buffer in buffers)
            if failing.is_set() and offset <= bad_byte < offset + size \
                    and os.readlink(f"/proc/self/fd/{fd}").endswith(first_name):
                del buffers
                time.sleep(0.02)  # a slow failure: the pieces after it reach other writers meanwhile
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            return os.pwritev(fd, buffers, offset)

        # ~70 bytes each: four 60 KB files, written 100 lines (one segment) at a time; the
        # ring's 32 segments hold all 30, those of the first file held back included.
        n = 3000
        c = make(tmp_path, bad_sector, max_retries=1, flush_interval=60, buffer_size=100,
                 max_file_size=60_000, clock=lambda: FROZEN)
        try:
            for i in range(n):
                c.info("e", seq=i)
            with pytest.raises(fastevlog.WriteError):
                c.flush()
            # Let the writers finish what they can: until nothing more is written for a while.
            deadline = time.monotonic() + 10
            still = 0
            written = -1
            while still < 5 and time.monotonic() < deadline:
                time.sleep(0.02)
                still = still + 1 if c.metrics()["bytes_written"] == written else 0
                written = c.metrics()["bytes_written"]
            paths = log_paths(tmp_path)
            assert paths[0].name == first_name and len(paths) >= 4
            first = paths[0].read_bytes()
            assert b"\0" not in first, "a later piece was written past the failed one"
            assert len(first) <= bad_byte
            assert all(path.stat().st_size > 0 for path in paths[1:])
            failing.clear()
            c.flush()
        finally:
            failing.clear()
            c.stop()
        assert seqs(tmp_path) == list(range(n))


class TestSealOrder:
    """Segments reach the files in seal order whatever the number of writers."""

    @pytest.mark.parametrize("max_file_size", [10 * 1024 * 1024, 50_000], ids=["one-file", "rotating"])
    def test_order_with_four_workers(self, tmp_path, max_file_size):
        """One producer, 16 KiB segments, 4 jittery writers: seqs strictly increase across files."""
        rng = random.Random(1234)
        lock = threading.Lock()

        def jittery(fd, buffers, offset):
            with lock:
                delay = rng.random() * 0.002
            time.sleep(delay)
            return os.pwritev(fd, buffers, offset)

        n = 20_000
        with make(tmp_path, jittery, num_workers=4, buffer_bytes=64 * 1024,
                  max_file_size=max_file_size) as c:
            for i in range(n):
                c.info("e", "ordered", seq=i)
            c.flush()
            m = c.metrics()
        got = seqs(tmp_path)
        assert got == list(range(n))
        assert all(a < b for a, b in zip(got, got[1:]))
        assert m["flushes"] > 50, "expected many 16 KiB segments"
        assert m["events_written"] == n


def run_stop(c, timeout=10.0):
    """c.stop() in a thread; returns the exception it raised (None) or fails if it hangs."""
    outcome = []

    def target():
        try:
            c.stop()
            outcome.append(None)
        except BaseException as error:  # reported by the caller
            outcome.append(error)

    thread = threading.Thread(target=target, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"stop() still running after {timeout} s"
    assert time.monotonic() - started < timeout
    return outcome[0]


class TestStopWhileFailing:
    """stop() with writes still failing returns, reports, and keeps the events for recovery."""

    def test_stop_returns_and_keeps_buffer(self, tmp_path, caplog):
        """stop() returns promptly without raising, logs CRITICAL and leaves the buffer file."""
        caplog.set_level(logging.INFO, logger="fastevlog")
        fault = FailWhile(errno.EIO)
        c = make(tmp_path, fault, max_retries=2)
        for i in range(200):
            c.info("e", seq=i)
        error = run_stop(c)
        assert error is None, f"stop() raised {error!r}"
        assert records(caplog, logging.CRITICAL, "stopping with unwritten events")
        assert os.path.exists(c.buffer_path)
        assert c.metrics()["events_written"] == 0

    def test_next_logger_recovers_everything(self, tmp_path, caplog):
        """A new logger on the same directory and log_file writes the kept events exactly once."""
        caplog.set_level(logging.INFO, logger="fastevlog")
        fault = FailWhile(errno.EIO)
        fault.failing.clear()
        first = make(tmp_path, fault, max_retries=2, buffer_bytes=64 * 1024)
        n = 100
        for i in range(n):
            first.info("e", phase="before", seq=i)
        first.flush()  # still working: these are written now
        assert seqs(tmp_path) == list(range(n))
        fault.failing.set()
        for i in range(n, 3 * n):
            first.info("e", phase="failing", seq=i)
        run_stop(first)  # whether it raises is test_stop_returns_and_keeps_buffer's concern
        buffer_path = first.buffer_path
        assert os.path.exists(buffer_path)

        second = make(tmp_path)
        recovered = second.recovered_events
        second.stop()
        assert seqs(tmp_path) == list(range(3 * n))
        assert recovered == 2 * n
        assert not os.path.exists(buffer_path)

    def test_partly_written_segment_recovered_once(self, tmp_path):
        """A disk that fills up mid-segment: after recovery every line is present once and whole.

        The first logger runs in its own process (which then ends), so this checks what
        recovery makes of partly written segments independently of in-process locking.
        """
        script = textwrap.dedent(f"""
            import errno, os, sys
            import fastevlog

            class DiskFull:
                room = 5000
                def __call__(self, fd, buffers, offset):
                    if self.room <= 0:
                        del buffers  # like os.pwritev, keep no view alive in the traceback
                        raise OSError(errno.ENOSPC, "No space left on device")
                    n = os.pwrite(fd, buffers[0][:self.room], offset)
                    self.room -= n
                    return n

            c = fastevlog.EventLogCounter(log_file="app", directory={str(tmp_path)!r},
                                          flush_interval=60, max_file_size=2000, num_workers=1,
                                          max_retries=1)
            c._scheduler.pool.pwritev = DiskFull()
            c._scheduler.pool.retry_delay = 0.001
            for i in range(200):
                c.info("e", seq=i)
            try:
                c.stop()
            except BaseException as error:
                print("stop raised", repr(error))
            print("buffer", c.buffer_path, os.path.exists(c.buffer_path))
        """)
        child = support.run_python(script, tmp_path, capture_output=True, text=True, timeout=30)
        assert child.returncode == 0, child.stderr
        assert "buffer" in child.stdout and child.stdout.rstrip().endswith("True"), child.stdout
        assert any(p.stat().st_size for p in log_paths(tmp_path)), "the disk took some bytes first"

        second = make(tmp_path)
        second.stop()
        found = collections.Counter()
        torn = []
        for path in log_paths(tmp_path):
            data = path.read_bytes()
            assert b"\0" not in data, f"{path.name} holds NUL bytes"
            for line in data.splitlines(keepends=True):
                try:
                    assert line.endswith(b"\n")
                    found[json.loads(line)["seq"]] += 1
                except (AssertionError, ValueError):
                    torn.append((path.name, line[:40]))
        duplicated = sorted(s for s, k in found.items() if k > 1)
        assert sorted(found) == list(range(200))
        assert (torn, duplicated) == ([], []), \
            f"{len(torn)} torn line(s) {torn}; " \
            f"{len(duplicated)} event(s) written twice, e.g. {duplicated[:5]}"
