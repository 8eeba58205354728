"""Log files: size and time rotation, unique names, safe creation and permissions."""

import functools
import logging
import os
import re
import stat
import threading
from datetime import datetime, timezone

import pytest
import support

import fastevlog
from fastevlog._directory import LogDirectory
from fastevlog._rotation import LogFiles

LOG_FILE = "app"
log_paths = functools.partial(support.log_paths, log_file=LOG_FILE)
read_events = functools.partial(support.read_events, log_file=LOG_FILE)
lines_of = support.lines_of

NAME = re.compile(r"app_(\d{8}_\d{6})(?:_(\d{6}))?\.log")


class FakeClock:
    """A settable clock: seconds since the epoch, frozen unless moved or given a step."""

    def __init__(self, when: datetime, step: float = 0.0) -> None:
        self.now = when.timestamp()
        self.step = step
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            now = self.now
            self.now += self.step
            return now

    def set(self, when: datetime) -> None:
        with self._lock:
            self.now = when.timestamp()


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)



def names(directory, log_file="app"):
    return [p.name for p in log_paths(directory, log_file=log_file)]




def make(tmp_path, **kwargs):
    kwargs.setdefault("log_file", "app")
    kwargs.setdefault("directory", str(tmp_path))
    kwargs.setdefault("flush_interval", 0.05)
    return fastevlog.EventLogCounter(**kwargs)


@pytest.fixture
def info_log(caplog):
    caplog.set_level(logging.INFO, logger="fastevlog")
    return caplog


class TestSizeRotation:
    """Files never exceed max_file_size and together hold every line once, in order."""

    def test_files_bounded_lines_whole_and_in_order(self, tmp_path, info_log):
        """Every file fits max_file_size, lines are whole, seqs come back once and in order."""
        n, limit = 3000, 2000
        with make(tmp_path, max_file_size=limit) as c:
            for i in range(n):
                c.info("tick", "a message", seq=i, pad="x" * (i % 37))
        paths = log_paths(tmp_path)
        assert len(paths) > 10
        for path in paths:
            assert 0 < path.stat().st_size <= limit, path.name
        events = read_events(tmp_path)
        assert [e["seq"] for e in events] == list(range(n))
        m = c.metrics()
        assert m["events_logged"] == m["events_written"] == n
        assert m["dropped"] == 0 and m["write_failures"] == 0
        assert m["files_written"] == len(paths)
        assert m["bytes_written"] == sum(p.stat().st_size for p in paths)
        # Every file but the last was rotated away from; the last one too if it filled up exactly.
        last_full = paths[-1].stat().st_size >= limit
        assert m["rotations"] == len(paths) - 1 + last_full
        rotated = [r for r in info_log.records
                   if r.name == "fastevlog" and r.getMessage().startswith("rotated")]
        assert len(rotated) == m["rotations"]

    def test_names_sort_in_time_order(self, tmp_path):
        """With a clock moving on, name order is creation order and the stamps never go back."""
        clock = FakeClock(utc(2026, 11, 28, 16, 3, 5), step=0.4)
        n = 2000
        with make(tmp_path, max_file_size=1500, clock=clock) as c:
            for i in range(n):
                c.info("tick", seq=i)
        found = names(tmp_path)
        assert len(found) > 5
        stamps = [NAME.fullmatch(name).group(1) for name in found]
        assert stamps == sorted(stamps)
        assert len(set(stamps)) > 1, "the clock moved: files should span several seconds"
        assert any(NAME.fullmatch(name).group(2) for name in found), "expected same-second names too"
        assert [e["seq"] for e in read_events(tmp_path)] == list(range(n))

    def test_file_exactly_full_is_not_exceeded(self, tmp_path):
        """Lines that fill a file to exactly max_file_size stay there; the next goes to a new file."""
        with make(tmp_path, max_file_size=10_000_000) as probe:
            probe.info("e", seq=0)
        line_size = log_paths(tmp_path)[0].stat().st_size
        for p in log_paths(tmp_path):
            p.unlink()
        with make(tmp_path, max_file_size=3 * line_size) as c:
            for i in range(10):
                c.info("e", seq=i)
        sizes = [p.stat().st_size for p in log_paths(tmp_path)]
        assert sizes == [3 * line_size] * 3 + [line_size]
        assert [e["seq"] for e in read_events(tmp_path)] == list(range(10))


class TestOversizedLine:
    """A line longer than max_file_size is written whole, alone in its own file."""

    @pytest.mark.parametrize("big", [5_000, 40_000], ids=["within-a-segment", "longer-than-a-segment"])
    def test_oversized_line_alone(self, tmp_path, big):
        """The big line gets a file of its own; the small ones around it respect the limit."""
        limit = 2000
        with make(tmp_path, max_file_size=limit, buffer_bytes=64 * 1024) as c:
            for i in range(30):
                c.info("small", seq=i)
            c.info("big", "x" * big, seq=30)
            for i in range(31, 60):
                c.info("small", seq=i)
        paths = log_paths(tmp_path)
        big_files = []
        for path in paths:
            events = lines_of(path)
            if any(e["seq"] == 30 for e in events):
                big_files.append(path)
                assert len(events) == 1, f"the oversized line shares {path.name}"
                assert events[0]["message"] == "x" * big
                assert path.stat().st_size > limit
            else:
                assert path.stat().st_size <= limit, path.name
        assert len(big_files) == 1
        assert [e["seq"] for e in read_events(tmp_path)] == list(range(60))


class TestTimeRotation:
    """rotate_every starts a new file at each UTC hour or day boundary of the injected clock."""

    @pytest.mark.parametrize("every, before, after, expected", [
        ("hourly", utc(2026, 11, 28, 10, 59, 59), utc(2026, 11, 28, 11, 0, 0),
         ["app_20261128_105959.log", "app_20261128_110000.log"]),
        ("daily", utc(2026, 11, 28, 23, 59, 59), utc(2026, 11, 29, 0, 0, 0),
         ["app_20261128_235959.log", "app_20261129_000000.log"]),
        ("hourly", utc(2026, 11, 28, 10, 59, 59), utc(2026, 11, 28, 13, 30, 7),
         ["app_20261128_105959.log", "app_20261128_133007.log"]),
    ], ids=["hourly", "daily", "hourly-several-hours-later"])
    def test_rotates_across_boundary(self, tmp_path, every, before, after, expected):
        """Crossing the boundary puts later events in a new file named after the clock's time."""
        clock = FakeClock(before)
        with make(tmp_path, rotate_every=every, clock=clock) as c:
            for i in range(5):
                c.info("e", seq=i)
            c.flush()
            clock.set(after)
            for i in range(5, 10):
                c.info("e", seq=i)
            c.flush()
            m = c.metrics()
        assert names(tmp_path) == expected
        assert [e["seq"] for e in lines_of(tmp_path / expected[0])] == [0, 1, 2, 3, 4]
        assert [e["seq"] for e in lines_of(tmp_path / expected[1])] == [5, 6, 7, 8, 9]
        assert m["rotations"] == 1
        assert m["files_written"] == 2

    @pytest.mark.parametrize("every, start, later", [
        ("hourly", utc(2026, 11, 28, 10, 0, 0), utc(2026, 11, 28, 10, 59, 59, 999000)),
        ("daily", utc(2026, 11, 28, 0, 0, 0), utc(2026, 11, 28, 23, 59, 59, 999000)),
    ], ids=["hourly", "daily"])
    def test_no_rotation_inside_period(self, tmp_path, every, start, later):
        """A clock that stays inside the hour or day keeps one file."""
        clock = FakeClock(start)
        with make(tmp_path, rotate_every=every, clock=clock) as c:
            for i in range(5):
                c.info("e", seq=i)
            c.flush()
            clock.set(later)
            for i in range(5, 10):
                c.info("e", seq=i)
            c.flush()
            m = c.metrics()
        stamp = start.strftime("%Y%m%d_%H%M%S")
        assert names(tmp_path) == [f"app_{stamp}.log"]
        assert [e["seq"] for e in read_events(tmp_path)] == list(range(10))
        assert m["rotations"] == 0

    def test_clock_ignored_without_rotate_every(self, tmp_path):
        """rotate_every=None ignores the clock crossing hours and days."""
        clock = FakeClock(utc(2026, 11, 28, 23, 59, 59))
        with make(tmp_path, clock=clock) as c:
            c.info("e", seq=0)
            c.flush()
            clock.set(utc(2026, 11, 30, 5, 0, 0))
            c.info("e", seq=1)
        assert names(tmp_path) == ["app_20261128_235959.log"]

    def test_no_file_when_nothing_logged(self, tmp_path):
        """No events, no file, whatever the clock does."""
        clock = FakeClock(utc(2026, 11, 28, 10, 59, 59))
        with make(tmp_path, rotate_every="hourly", clock=clock) as c:
            c.flush()
            clock.set(utc(2026, 11, 28, 11, 0, 0))
            c.flush()
            clock.set(utc(2026, 11, 29, 11, 0, 0))
            c.flush()
        assert names(tmp_path) == []
        assert c.metrics()["files_written"] == 0
        assert c.metrics()["rotations"] == 0

    def test_no_empty_file_after_boundary(self, tmp_path):
        """Crossing a boundary with nothing new to write creates no new file."""
        clock = FakeClock(utc(2026, 11, 28, 10, 59, 59))
        with make(tmp_path, rotate_every="hourly", clock=clock) as c:
            c.info("e", seq=0)
            c.flush()
            clock.set(utc(2026, 11, 28, 11, 0, 1))
            c.flush()
            clock.set(utc(2026, 11, 28, 12, 0, 1))
        assert names(tmp_path) == ["app_20261128_105959.log"]
        assert c.metrics()["files_written"] == 1


FROZEN = utc(2026, 11, 28, 16, 3, 5)
STAMP = "20261128_160305"


class TestNameCollisions:
    """Names are unique: a suffix on a collision, and existing files or symlinks are left alone."""

    def test_same_second_rotations_get_suffixes(self, tmp_path):
        """Several rotations in one second give distinct suffixed names that sort in write order."""
        n = 1500
        with make(tmp_path, max_file_size=2000, clock=FakeClock(FROZEN)) as c:
            for i in range(n):
                c.info("e", seq=i)
        found = names(tmp_path)
        assert len(found) > 10
        expected = [f"app_{STAMP}.log"] + [f"app_{STAMP}_{k:06d}.log" for k in range(1, len(found))]
        assert found == expected
        assert [e["seq"] for e in read_events(tmp_path)] == list(range(n))
        # Write order, file by file: each file's seqs come after the previous file's.
        firsts = [lines_of(tmp_path / name)[0]["seq"] for name in found]
        assert firsts == sorted(firsts)

    def test_nth_file_of_a_second_costs_one_open(self, tmp_path):
        """300 files in one (frozen) second: one open() each, going on from the last suffix used.

        Names taken meanwhile by someone else are still skipped (O_EXCL).
        """
        directory = LogDirectory(str(tmp_path), 0o640)
        tried = []
        open_in_directory = directory.open

        def counting_open(name, flags, mode=0o600):
            tried.append(name)
            return open_in_directory(name, flags, mode)

        directory.open = counting_open
        planted = f"app_{STAMP}_000100.log"
        (tmp_path / planted).write_bytes(b"someone else's\n")
        files = LogFiles(directory, "app", 100, None, 0o640, FakeClock(FROZEN))
        data = b"x" * 59 + b"\n"  # one line per 100-byte file
        n = 300
        for _ in range(n):
            for file, offset, start, end in files.place(data, 0, len(data)):
                os.pwrite(file.fd, data[start:end], offset)
                files.piece_done(file)
        files.close()
        directory.close()
        assert files.files_created == n
        assert len(tried) == n + 1, f"{len(tried)} open() calls for {n} files"
        assert (tmp_path / planted).read_bytes() == b"someone else's\n"
        assert len(names(tmp_path)) == n + 1

    def test_existing_file_is_never_touched(self, tmp_path):
        """A file already at the next name keeps its content; logging goes to the suffixed name."""
        planted = tmp_path / f"app_{STAMP}.log"
        planted.write_bytes(b"precious, not a log line\n")
        before = planted.stat()
        with make(tmp_path, clock=FakeClock(FROZEN)) as c:
            for i in range(100):
                c.info("e", seq=i)
        assert planted.read_bytes() == b"precious, not a log line\n"
        after = planted.stat()
        assert (after.st_ino, after.st_size, after.st_mtime_ns) == \
            (before.st_ino, before.st_size, before.st_mtime_ns)
        assert names(tmp_path) == [planted.name, f"app_{STAMP}_000001.log"]
        events = read_events(tmp_path, exclude={planted.name})
        assert [e["seq"] for e in events] == list(range(100))

    def test_existing_suffixed_files_are_skipped(self, tmp_path):
        """Taken names with and without suffix are all skipped, none is appended to."""
        taken = [f"app_{STAMP}.log", f"app_{STAMP}_000001.log", f"app_{STAMP}_000002.log"]
        for name in taken:
            (tmp_path / name).write_bytes(name.encode() + b"\n")
        with make(tmp_path, clock=FakeClock(FROZEN)) as c:
            for i in range(10):
                c.info("e", seq=i)
        for name in taken:
            assert (tmp_path / name).read_bytes() == name.encode() + b"\n"
        assert names(tmp_path) == taken + [f"app_{STAMP}_000003.log"]
        assert [e["seq"] for e in lines_of(tmp_path / f"app_{STAMP}_000003.log")] == list(range(10))

    def test_symlink_is_not_followed(self, tmp_path, tmp_path_factory, caplog):
        """A symlink at the next name is refused with an ERROR; its target keeps its content."""
        caplog.set_level(logging.INFO, logger="fastevlog")
        outside = tmp_path_factory.mktemp("outside") / "target.log"
        outside.write_bytes(b"outside content\n")
        link = tmp_path / f"app_{STAMP}.log"
        link.symlink_to(outside)
        with make(tmp_path, clock=FakeClock(FROZEN)) as c:
            for i in range(50):
                c.info("e", seq=i)
        assert outside.read_bytes() == b"outside content\n"
        assert link.is_symlink() and os.readlink(link) == str(outside)
        assert names(tmp_path) == [link.name, f"app_{STAMP}_000001.log"]
        events = read_events(tmp_path, exclude={link.name})
        assert [e["seq"] for e in events] == list(range(50))
        errors = [r for r in caplog.records
                  if r.name == "fastevlog" and r.levelno == logging.ERROR and "symlink" in r.getMessage()]
        assert errors, "no ERROR about the symlink"
        assert str(link) in errors[0].getMessage()

    def test_dangling_symlink_creates_nothing(self, tmp_path, tmp_path_factory, caplog):
        """A symlink to a missing file does not get its target created."""
        caplog.set_level(logging.INFO, logger="fastevlog")
        outside = tmp_path_factory.mktemp("outside") / "missing.log"
        link = tmp_path / f"app_{STAMP}.log"
        link.symlink_to(outside)
        with make(tmp_path, clock=FakeClock(FROZEN)) as c:
            c.info("e", seq=0)
        assert not outside.exists()
        assert link.is_symlink()
        assert [e["seq"] for e in lines_of(tmp_path / f"app_{STAMP}_000001.log")] == [0]
        assert any(r.levelno == logging.ERROR and "symlink" in r.getMessage() for r in caplog.records)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


class TestFileMode:
    """New log files get file_mode (0o640 by default)."""

    def test_default_mode(self, tmp_path, umask_022):
        """Without file_mode, files are rw-r-----."""
        with make(tmp_path, max_file_size=2000) as c:
            for i in range(100):
                c.info("e", seq=i)
        paths = log_paths(tmp_path)
        assert len(paths) > 1
        for path in paths:
            assert stat.S_IMODE(path.stat().st_mode) == 0o640, path.name

    def test_explicit_mode(self, tmp_path, umask_022):
        """file_mode=0o600 gives rw-------."""
        with make(tmp_path, max_file_size=2000, file_mode=0o600) as c:
            for i in range(100):
                c.info("e", seq=i)
        paths = log_paths(tmp_path)
        assert len(paths) > 1
        for path in paths:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


class TestTwoLoggers:
    """Two loggers on the same directory and log_file never share or overwrite a file."""

    def test_concurrent_loggers_same_second(self, tmp_path):
        """Both log at once with frozen clocks at the same second; every file has one owner."""
        n = 1500
        loggers = {src: make(tmp_path, max_file_size=2000, clock=FakeClock(FROZEN)) for src in "ab"}
        start = threading.Barrier(2)
        errors = []

        def produce(src):
            try:
                start.wait()
                for i in range(n):
                    loggers[src].info("e", src=src, seq=i)
                loggers[src].flush()
            except BaseException as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=produce, args=(src,)) for src in "ab"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        for logger in loggers.values():
            logger.stop()
        assert not errors
        assert not any(thread.is_alive() for thread in threads)

        paths = log_paths(tmp_path)
        assert len(paths) == sum(logger.metrics()["files_written"] for logger in loggers.values())
        seqs = {"a": [], "b": []}
        for path in paths:
            assert path.stat().st_size <= 2000, path.name
            events = lines_of(path)
            owners = {e["src"] for e in events}
            assert len(owners) == 1, f"{path.name} is shared by {owners}"
            seqs[owners.pop()].extend(e["seq"] for e in events)
        assert seqs["a"] == list(range(n))
        assert seqs["b"] == list(range(n))
        for logger in loggers.values():
            m = logger.metrics()
            assert m["events_written"] == m["events_logged"] == n

    def test_sequential_overlapping_loggers(self, tmp_path):
        """A second logger started while the first holds its file goes to a new name."""
        first = make(tmp_path, clock=FakeClock(FROZEN))
        first.info("e", src="a", seq=0)
        first.flush()
        second = make(tmp_path, clock=FakeClock(FROZEN))
        second.info("e", src="b", seq=0)
        second.flush()
        first.info("e", src="a", seq=1)
        second.info("e", src="b", seq=1)
        first.stop()
        second.stop()
        assert names(tmp_path) == [f"app_{STAMP}.log", f"app_{STAMP}_000001.log"]
        assert [(e["src"], e["seq"]) for e in lines_of(tmp_path / f"app_{STAMP}.log")] == [("a", 0), ("a", 1)]
        assert [(e["src"], e["seq"]) for e in lines_of(tmp_path / f"app_{STAMP}_000001.log")] == \
            [("b", 0), ("b", 1)]


class TestTinyFiles:
    def test_max_file_size_smaller_than_a_line(self, tmp_path):
        """Files smaller than one line: every line gets a file of its own, none is lost."""
        with make(tmp_path, max_file_size=50) as c:
            for i in range(30):
                c.info("e", "m" * (i % 5), seq=i)
        assert [e["seq"] for e in read_events(tmp_path)] == list(range(30))
        assert len(log_paths(tmp_path)) == 30

    def test_batch_into_tiny_files(self, tmp_path):
        """log_many() with files smaller than one line: every row whole, once, in its own file."""
        with make(tmp_path, max_file_size=50) as c:
            c.log_many("INFO", ["e"] * 30, seq=list(range(30)))
        assert [e["seq"] for e in read_events(tmp_path)] == list(range(30))
        assert len(log_paths(tmp_path)) == 30
