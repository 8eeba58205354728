"""Recovery of the buffer files that dead processes leave behind."""

import logging
import os
import textwrap

from dead_buffers import LOG_FILE, STAMP, Ring, Segment, lines, log_then_die
from support import log_paths, read_events, run_python

from fastevlog import EventLogCounter


class TestRecovery:
    def test_killed_process_events_are_recovered(self, tmp_path, caplog):
        """Events a SIGKILLed process logged but never wrote reach the files via the next logger."""
        log_then_die(tmp_path, 5000)
        assert read_events(tmp_path) == []
        assert len(list(tmp_path.glob("*.buffer"))) == 1
        caplog.set_level(logging.WARNING, logger="fastevlog")
        with EventLogCounter(directory=tmp_path) as logger:
            assert logger.recovered_events == 5000
            logger.info("after", seq=5000)
        assert [e["seq"] for e in read_events(tmp_path)] == list(range(5001))
        assert logger.metrics()["recovered_events"] == 5000
        assert "recovered 5000 events" in caplog.text
        assert not list(tmp_path.glob("*.buffer"))

    def test_written_segments_are_not_replayed(self, tmp_path):
        """Segments that reached a file before the kill are not written twice."""
        log_then_die(tmp_path, 5000, flush_every=700, buffer_bytes=256 * 1024)
        before = len(read_events(tmp_path))
        assert 0 < before < 5000
        EventLogCounter(directory=tmp_path).stop()
        assert sorted(e["seq"] for e in read_events(tmp_path)) == list(range(5000))

    def test_recovery_respects_max_file_size(self, tmp_path):
        """Recovered lines are rotated like any others."""
        log_then_die(tmp_path, 3000)
        EventLogCounter(directory=tmp_path, max_file_size=20_000).stop()
        paths = sorted(tmp_path.glob("*.log"))
        assert len(paths) > 1 and all(p.stat().st_size <= 20_000 for p in paths)
        assert [e["seq"] for e in read_events(tmp_path)] == list(range(3000))

    def test_other_log_file_is_left_alone(self, tmp_path):
        """Only buffer files of the same log_file are recovered."""
        log_then_die(tmp_path, 100, log_file="other")
        EventLogCounter(directory=tmp_path).stop()
        assert read_events(tmp_path) == []
        EventLogCounter(directory=tmp_path, log_file="other").stop()
        assert len(read_events(tmp_path, "other")) == 100

    def test_live_buffer_file_is_not_touched(self, tmp_path):
        """A running logger's buffer file is not recovered by a second logger."""
        first = EventLogCounter(directory=tmp_path, flush_interval=3600)
        for i in range(100):
            first.info("e", seq=i)
        second = EventLogCounter(directory=tmp_path)
        assert second.recovered_events == 0
        assert os.path.exists(first.buffer_path)
        second.stop()
        first.stop()
        assert sorted(e["seq"] for e in read_events(tmp_path)) == list(range(100))

    def test_foreign_file_is_set_aside_with_an_error(self, tmp_path, caplog):
        """A file with a buffer file's name but not its format is reported and kept under another name."""
        foreign = tmp_path / "async_buffered_logs.1-0.buffer"
        foreign.write_bytes(b"not a buffer" * 1000)
        with caplog.at_level(logging.ERROR, logger="fastevlog"):
            EventLogCounter(directory=tmp_path).stop()
        assert not foreign.exists()
        assert (tmp_path / f"{foreign.name}.quarantined").read_bytes() == b"not a buffer" * 1000
        assert "bad magic" in caplog.text and "12,000 bytes" in caplog.text
        EventLogCounter(directory=tmp_path).stop()  # set aside: not reported again
        assert len(list(tmp_path.glob("*.quarantined*"))) == 1

    def test_empty_leftover_is_removed(self, tmp_path):
        """A buffer file whose process died before using it is removed."""
        (tmp_path / "async_buffered_logs.1-0.buffer").write_bytes(b"")
        (tmp_path / "async_buffered_logs.2-0.buffer").write_bytes(bytes(8192))
        EventLogCounter(directory=tmp_path).stop()
        assert list(tmp_path.iterdir()) == []


# A logger whose one write (at flush(): the lines fit one segment) puts half its bytes in the file, then
# kills the process: a piece recorded and cut short.
TORN_WRITE = """
    import os, signal
    import fastevlog
    logger = fastevlog.EventLogCounter(directory={directory!r}, flush_interval=3600, buffer_bytes=4 << 20)

    def torn_pwritev(fd, views, offset):
        data = b"".join(bytes(view) for view in views)
        os.pwrite(fd, data[:len(data) // 2], offset)
        os.kill(os.getpid(), signal.SIGKILL)

    logger._scheduler.pool.pwritev = torn_pwritev
    for i in range(3000):
        logger.info("e", "m", seq=i)
    logger.flush()
"""


class TestRecoveredEvents:
    def test_counts_only_lines_missing_from_the_files(self, tmp_path, caplog):
        """A piece recorded and partly written before the kill: recovered_events counts lines not on disk."""
        child = run_python(textwrap.dedent(TORN_WRITE).format(directory=str(tmp_path)), tmp_path, timeout=60)
        assert child.returncode == -9
        on_disk = sum(path.read_bytes().count(b"\n") for path in log_paths(tmp_path))
        assert 0 < on_disk < 3000
        caplog.set_level(logging.WARNING, logger="fastevlog")
        with EventLogCounter(directory=tmp_path) as logger:
            assert logger.recovered_events == 3000 - on_disk
        assert [e["seq"] for e in read_events(tmp_path)] == list(range(3000))
        assert f"recovered {3000 - on_disk} events" in caplog.text

    def test_pieces_already_on_disk_count_nothing(self, tmp_path):
        """Recorded pieces whose bytes are all in their file: nothing written, nothing counted."""
        data = lines(0, 100)
        (tmp_path / f"{LOG_FILE}_{STAMP}.log").write_bytes(data)
        Ring([Segment(data, placements=[(STAMP, 0, 0, len(data))])]).plant(tmp_path)
        with EventLogCounter(directory=tmp_path) as logger:
            assert logger.recovered_events == 0
        assert [e["seq"] for e in read_events(tmp_path)] == list(range(100))
        assert not list(tmp_path.glob("*.buffer"))

    def test_a_damaged_line_on_disk_counts_once(self, tmp_path):
        """Lines whose bytes on disk differ (a torn tail, a hole) are rewritten and counted; no others."""
        data = lines(0, 100)
        on_disk = bytearray(data[:len(data) * 3 // 4])  # the last quarter never written
        line = len(lines(0, 1))
        on_disk[10 * line + 5:10 * line + 9] = bytes(4)  # and a hole inside line 10
        (tmp_path / f"{LOG_FILE}_{STAMP}.log").write_bytes(on_disk)
        Ring([Segment(data, placements=[(STAMP, 0, 0, len(data))])]).plant(tmp_path)
        missing = 1 + data[len(on_disk):].count(b"\n")  # line 10, and every line that ends past the cut
        with EventLogCounter(directory=tmp_path) as logger:
            assert logger.recovered_events == missing
        assert (tmp_path / f"{LOG_FILE}_{STAMP}.log").read_bytes() == data
