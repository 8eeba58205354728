"""The fastevlog command, end to end."""

import subprocess
import sys

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
