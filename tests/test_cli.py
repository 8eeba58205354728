"""The fastevlog command, end to end."""

import subprocess
import sys

from dead_buffers import LOG_FILE, lines, log_then_die
from support import child_env, read_events


def _fastevlog(*args, cwd):
    return subprocess.run([sys.executable, "-m", "fastevlog", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, env=child_env())


class TestSimulate:
    def test_small_run(self, tmp_path):
        """simulate writes exactly N events with the seed's ids, levels and messages."""
        result = _fastevlog("simulate", "--events", "20000", "--threads", "4", "--dir", str(tmp_path),
                            "--max-file-size", "500000", "--verify", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "events     20,000" in result.stdout
        assert "verified   20,000 lines" in result.stdout
        events = read_events(tmp_path)
        assert len(events) == 20000
        ids = {}
        for e in events:
            ids[e["event_id"]] = ids.get(e["event_id"], 0) + 1
            assert e["message"] == f"Event {e['event_id']} occurred."
        assert ids == {f"event_{k}": 20 for k in range(1000)}
        assert sum(e["level"] == "INFO" for e in events) == 10000
        assert len(list(tmp_path.glob("*.log"))) > 1

    def test_noop_floor(self, tmp_path):
        """--noop runs the same loop and writes nothing."""
        result = _fastevlog("simulate", "--events", "1000", "--noop", "--no-progress", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "no-op" in result.stdout
        assert list(tmp_path.iterdir()) == []

    def test_progress_on_stderr(self, tmp_path):
        """Live progress goes to stderr, the summary to stdout."""
        result = _fastevlog("simulate", "--events", "300000", "--threads", "2", "--flush-interval", "0.1",
                            cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "events/s" in result.stdout
        assert "ev" in result.stderr

    def test_bad_parameter_is_one_line(self, tmp_path):
        """A bad parameter exits non-zero with a one-line reason."""
        result = _fastevlog("simulate", "--buffer-bytes", "10", cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.startswith("fastevlog: buffer_bytes must be at least")
        assert result.stderr.count("\n") == 1


class TestRecover:
    def test_recovers_and_says_how_many(self, tmp_path):
        """A dead buffer file: its events written, the count on stdout, exit status 0."""
        log_then_die(tmp_path, 300)
        result = _fastevlog("recover", str(tmp_path), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"{LOG_FILE}: recovered 300 events\n"
        assert len(read_events(tmp_path)) == 300

    def test_nothing_to_recover(self, tmp_path):
        result = _fastevlog("recover", str(tmp_path), cwd=tmp_path)
        assert (result.returncode, result.stdout) == (0, f"no buffer files in {tmp_path}\n")

    def test_a_file_it_cannot_recover_fails_the_command(self, tmp_path):
        """An unreadable buffer file is set aside: named on stderr, exit status 1."""
        (tmp_path / f"{LOG_FILE}.7-0.buffer").write_bytes(lines(0, 10))
        result = _fastevlog("recover", str(tmp_path), cwd=tmp_path)
        assert result.returncode == 1
        assert f"{LOG_FILE}.7-0.buffer.quarantined" in result.stderr and "bad magic" in result.stderr
        assert "1 buffer file(s) could not be recovered completely" in result.stderr
