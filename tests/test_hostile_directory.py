"""Recovery in a directory others can write: planted, corrupt, truncated and zeroed buffer files."""

import logging
import os
import subprocess
import sys

import pytest
from dead_buffers import LOG_FILE, STAMP, Ring, Segment, geometry, lines, log_then_die, segment_headers
from support import child_env, log_paths, read_events

from fastevlog import EventLogCounter

BUFFER = f"{LOG_FILE}.1-0.buffer"


def _recover_in_child(directory):
    """`fastevlog recover DIR` in a child with a timeout: a blocked recovery fails, never hangs the suite."""
    return subprocess.run([sys.executable, "-m", "fastevlog", "recover", str(directory)], cwd=directory,
                          env=child_env(), capture_output=True, text=True, timeout=30)


def _seqs(directory):
    return sorted(e["seq"] for e in read_events(directory))


def _one_piece_ring(data, stamp=STAMP, offset=0, end=None):
    """A ring whose one sealed segment holds data, its first `end` bytes recorded at stamp, offset."""
    return Ring([Segment(data, placements=[(stamp, offset, 0, len(data) if end is None else end)])])


class TestUntrustedPlacements:
    @pytest.mark.parametrize("stamp", ["/app", "../x", "20260101_12000x"])
    def test_stamp_cannot_lead_outside_the_directory(self, tmp_path, stamp, caplog):
        """A planted stamp beside a planted symlink writes nothing outside; the file is set aside."""
        logs, elsewhere = tmp_path / "logs", tmp_path / "elsewhere"
        logs.mkdir()
        elsewhere.mkdir()
        victim = elsewhere / "app.log"
        victim.write_bytes(b"precious\n" * 1000)
        (logs / f"{LOG_FILE}_").symlink_to(elsewhere)  # {log_file}_ + "/app" + ".log" leads to the victim
        _one_piece_ring(lines(0, 50), stamp=stamp, offset=100).plant(logs)
        with caplog.at_level(logging.ERROR, logger="fastevlog"):
            EventLogCounter(directory=logs).stop()
        assert victim.read_bytes() == b"precious\n" * 1000
        assert not (logs / BUFFER).exists() and (logs / f"{BUFFER}.quarantined").exists()
        assert "not a log file stamp" in caplog.text and f"{BUFFER}.quarantined" in caplog.text
        EventLogCounter(directory=logs).stop()  # the next start works too

    @pytest.mark.parametrize("past_end", [1, 2 ** 40, 2 ** 64 - 1 - 4096])
    def test_offset_past_the_end_goes_to_a_file_of_its_own(self, tmp_path, past_end, caplog):
        """A recorded offset past its file's end would leave a hole: the piece goes elsewhere, once."""
        existing = tmp_path / f"{LOG_FILE}_{STAMP}.log"
        existing.write_bytes(lines(1000, 10))
        offset = existing.stat().st_size + past_end
        _one_piece_ring(lines(0, 50), offset=offset).plant(tmp_path)
        with caplog.at_level(logging.ERROR, logger="fastevlog"):
            EventLogCounter(directory=tmp_path).stop()
        assert existing.read_bytes() == lines(1000, 10)
        moved = tmp_path / f"{LOG_FILE}_{STAMP}_recovered_{offset}.log"
        assert moved.read_bytes() == lines(0, 50)
        assert "would leave a hole" in caplog.text
        assert _seqs(tmp_path) == list(range(50)) + list(range(1000, 1010))
        assert not list(tmp_path.glob("*.buffer*"))
        EventLogCounter(directory=tmp_path).stop()

    def test_piece_past_its_segment_is_refused(self, tmp_path):
        """A placement reaching past the committed bytes is a corrupt segment: set aside, nothing written."""
        data = lines(0, 20)
        Ring([Segment(data, placements=[(STAMP, 0, 0, len(data) + 4096)])]).plant(tmp_path)
        EventLogCounter(directory=tmp_path).stop()
        assert read_events(tmp_path) == []
        assert (tmp_path / f"{BUFFER}.quarantined").exists()

    def test_bad_segment_does_not_stop_the_good_ones(self, tmp_path, caplog):
        """Good segments are recovered and marked written; the file is kept aside for the bad one."""
        good, bad = lines(0, 30), lines(30, 30)
        escaping = [("../../x", 0, 0, len(bad))]
        Ring([Segment(good, seq=0), Segment(bad, seq=1, placements=escaping)]).plant(tmp_path)
        with caplog.at_level(logging.ERROR, logger="fastevlog"):
            EventLogCounter(directory=tmp_path).stop()
        assert _seqs(tmp_path) == list(range(30))
        kept = (tmp_path / f"{BUFFER}.quarantined").read_bytes()
        assert segment_headers(kept)[0][5] == len(good)  # recovered: written covers it all
        assert "segment 1 placement 0" in caplog.text


class TestPlantedSpecialFiles:
    @pytest.mark.parametrize("kind", ["fifo", "directory"])
    def test_special_file_at_a_recorded_name_blocks_nothing(self, tmp_path, kind):
        """A FIFO or directory where a recorded log file was is refused; its piece goes elsewhere, once."""
        planted = tmp_path / f"{LOG_FILE}_{STAMP}.log"
        os.mkfifo(planted) if kind == "fifo" else planted.mkdir()
        _one_piece_ring(lines(0, 40)).plant(tmp_path)
        result = _recover_in_child(tmp_path)
        assert result.returncode == 0, result.stderr
        assert "not a regular file" in result.stderr
        assert (tmp_path / f"{LOG_FILE}_{STAMP}_recovered_0.log").read_bytes() == lines(0, 40)
        assert planted.exists() and not planted.is_file()
        assert not (tmp_path / BUFFER).exists()

    @pytest.mark.parametrize("kind", ["fifo", "directory"])
    def test_special_file_named_like_a_buffer_file(self, tmp_path, kind):
        """A FIFO or directory with a buffer file's name is reported and left alone, without blocking."""
        planted = tmp_path / BUFFER
        os.mkfifo(planted) if kind == "fifo" else planted.mkdir()
        result = _recover_in_child(tmp_path)
        assert result.returncode == 1
        assert BUFFER in result.stderr and "not a regular file" in result.stderr
        assert planted.exists() and not planted.is_file()
        EventLogCounter(directory=tmp_path).stop()  # a logger's start is not stopped by it


class TestDamagedBufferFiles:
    def test_zeroed_header_is_kept_and_reported(self, tmp_path, caplog):
        """A zeroed header over 8000 logged events: the file is set aside with its size, never deleted."""
        log_then_die(tmp_path, 8000)
        (path,) = tmp_path.glob("*.buffer")
        data = bytearray(path.read_bytes())
        data[:geometry(data)[2]] = bytes(geometry(data)[2])
        path.write_bytes(data)
        with caplog.at_level(logging.ERROR, logger="fastevlog"):
            EventLogCounter(directory=tmp_path).stop()
        aside = path.with_name(path.name + ".quarantined")
        assert aside.read_bytes() == data
        assert "header is zeroed" in caplog.text and "bytes are not" in caplog.text

    def test_all_zero_file_is_removed(self, tmp_path):
        """A file of zeros (its process died before logging) holds nothing: removed."""
        (tmp_path / BUFFER).write_bytes(bytes(3 * 4096))
        EventLogCounter(directory=tmp_path).stop()
        assert not list(tmp_path.glob("*.buffer*"))

    def test_truncated_after_the_data_recovers_everything(self, tmp_path):
        """Cut right after the segment that holds every line: all of them recovered, the file removed."""
        log_then_die(tmp_path, 5000)
        (path,) = tmp_path.glob("*.buffer")
        data = path.read_bytes()
        _, segment_size, data_offset = geometry(data)
        used = [i for i, header in enumerate(segment_headers(data)) if header[1]]
        assert len(used) == 1
        os.truncate(path, data_offset + (used[0] + 1) * segment_size)
        with EventLogCounter(directory=tmp_path) as logger:
            assert logger.recovered_events == 5000
        assert _seqs(tmp_path) == list(range(5000))
        assert not list(tmp_path.glob("*.buffer*"))

    def test_truncated_mid_segment_salvages_whole_lines(self, tmp_path, caplog):
        """Cut inside the data: each whole line before the cut is recovered, no torn one; the file is kept."""
        log_then_die(tmp_path, 5000)
        (path,) = tmp_path.glob("*.buffer")
        data = path.read_bytes()
        _, segment_size, data_offset = geometry(data)
        (index, length), = [(i, header[1]) for i, header in enumerate(segment_headers(data)) if header[1]]
        cut = data_offset + index * segment_size + length // 2
        os.truncate(path, cut)
        with caplog.at_level(logging.ERROR, logger="fastevlog"):
            EventLogCounter(directory=tmp_path).stop()
        whole = data[data_offset + index * segment_size:cut].count(b"\n")
        assert 0 < whole < 5000
        assert _seqs(tmp_path) == list(range(whole))  # read_events fails on a torn line
        assert path.with_name(path.name + ".quarantined").exists()
        assert "cut by the end of the file" in caplog.text

    def test_slots_behind_written_are_done(self, tmp_path):
        """Killed after storing `written` but before clearing the slots: those pieces are not rewritten."""
        done, rest = lines(0, 20), lines(20, 20)
        (tmp_path / f"{LOG_FILE}_{STAMP}.log").write_bytes(done)
        Ring([Segment(done + rest, written=len(done), placements=[(STAMP, 0, 0, len(done))])]).plant(tmp_path)
        with EventLogCounter(directory=tmp_path) as logger:
            assert logger.recovered_events == 20
        assert _seqs(tmp_path) == list(range(40))
        assert len(log_paths(tmp_path)) == 2
