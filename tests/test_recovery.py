"""Recovery of the buffer files that dead processes leave behind."""

import logging
import os
import textwrap

from support import read_events, run_python

from fastevlog import EventLogCounter


def _log_then_die(directory, events, log_file="async_buffered_logs", flush_every=None,
                  buffer_bytes=4 * 1024 * 1024):
    """A child process logs seq 0..events-1 and kills itself with SIGKILL before any stop()."""
    script = textwrap.dedent(f"""
        import os, signal
        import fastevlog
        logger = fastevlog.EventLogCounter(directory={str(directory)!r}, log_file={log_file!r},
                                           flush_interval=3600, buffer_bytes={buffer_bytes})
        for i in range({events}):
            logger.info("e", "m", seq=i)
            if {flush_every!r} and i % {flush_every or 1} == 0:
                logger.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    child = run_python(script, directory, timeout=60)
    assert child.returncode == -9


class TestRecovery:
    def test_killed_process_events_are_recovered(self, tmp_path, caplog):
        """Events a SIGKILLed process logged but never wrote reach the files via the next logger."""
        _log_then_die(tmp_path, 5000)
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
        _log_then_die(tmp_path, 5000, flush_every=700, buffer_bytes=256 * 1024)
        before = len(read_events(tmp_path))
        assert 0 < before < 5000
        EventLogCounter(directory=tmp_path).stop()
        assert sorted(e["seq"] for e in read_events(tmp_path)) == list(range(5000))

    def test_recovery_respects_max_file_size(self, tmp_path):
        """Recovered lines are rotated like any others."""
        _log_then_die(tmp_path, 3000)
        EventLogCounter(directory=tmp_path, max_file_size=20_000).stop()
        paths = sorted(tmp_path.glob("*.log"))
        assert len(paths) > 1 and all(p.stat().st_size <= 20_000 for p in paths)
        assert [e["seq"] for e in read_events(tmp_path)] == list(range(3000))

    def test_other_log_file_is_left_alone(self, tmp_path):
        """Only buffer files of the same log_file are recovered."""
        _log_then_die(tmp_path, 100, log_file="other")
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

    def test_foreign_file_is_left_with_an_error(self, tmp_path, caplog):
        """A file with a buffer file's name but not its format is reported and kept."""
        foreign = tmp_path / "async_buffered_logs.1-0.buffer"
        foreign.write_bytes(b"not a buffer" * 1000)
        with caplog.at_level(logging.ERROR, logger="fastevlog"):
            EventLogCounter(directory=tmp_path).stop()
        assert foreign.exists()
        assert "bad magic" in caplog.text

    def test_empty_leftover_is_removed(self, tmp_path):
        """A buffer file whose process died before using it is removed."""
        (tmp_path / "async_buffered_logs.1-0.buffer").write_bytes(b"")
        (tmp_path / "async_buffered_logs.2-0.buffer").write_bytes(bytes(8192))
        EventLogCounter(directory=tmp_path).stop()
        assert list(tmp_path.iterdir()) == []
