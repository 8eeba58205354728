"""Many processes on one directory and log_file; planted symlinks; bounded memory under backpressure."""

import os
import subprocess
import sys
import threading

import pytest
from support import child_env, lines_of, log_paths, read_events

from fastevlog import EventLogCounter

PRODUCER = """
import os, sys
import fastevlog
with fastevlog.EventLogCounter(directory=sys.argv[1], log_file="shared", max_file_size=4000,
                               buffer_bytes=64 * 1024, flush_interval=0.01) as logger:
    for n in range(int(sys.argv[2])):
        logger.info("e", pid=os.getpid(), n=n)
print(os.getpid())
"""


class TestManyProcesses:
    def test_eight_processes_one_directory(self, tmp_path):
        """8 processes, tiny files: no file shared or overwritten, every event once, every line whole."""
        events = 3000
        children = [subprocess.Popen([sys.executable, "-c", PRODUCER, str(tmp_path), str(events)],
                                     stdout=subprocess.PIPE, cwd=tmp_path, env=child_env())
                    for _ in range(8)]
        pids = []
        for child in children:
            out, _ = child.communicate(timeout=120)
            assert child.returncode == 0
            pids.append(int(out))
        paths = log_paths(tmp_path, "shared")
        assert len(paths) > 8
        seen = {pid: [] for pid in pids}
        for path in paths:
            lines = lines_of(path)  # whole lines, valid JSON
            assert path.stat().st_size <= 4000
            assert len({e["pid"] for e in lines}) == 1, f"{path.name} holds lines of two processes"
            seen[lines[0]["pid"]].extend(e["n"] for e in lines)
        assert all(ns == list(range(events)) for ns in seen.values())
        assert not list(tmp_path.glob("*.buffer"))


class TestPlantedSymlinks:
    def test_symlink_at_the_buffer_file_name(self, tmp_path):
        """A symlink where this process's buffer file would go is left alone; another name is used."""
        target = tmp_path / "outside"
        target.write_bytes(b"keep me")
        logs = tmp_path / "logs"
        logs.mkdir()
        # The name the next logger of this process would take first.
        planted = logs / f"async_buffered_logs.{os.getpid()}-0.buffer"
        planted.symlink_to(target)
        with EventLogCounter(directory=logs) as logger:
            assert logger.buffer_path != str(planted)
            logger.info("e")
        assert target.read_bytes() == b"keep me"
        assert planted.is_symlink()
        assert [e["event_id"] for e in read_events(logs)] == ["e"]

    def test_buffer_file_mode(self, tmp_path):
        """The buffer file is created with file_mode, like the log files."""
        old = os.umask(0o022)
        try:
            with EventLogCounter(directory=tmp_path, file_mode=0o600) as logger:
                assert os.stat(logger.buffer_path).st_mode & 0o777 == 0o600
        finally:
            os.umask(old)


BACKPRESSURE = """
import os, sys, time
import fastevlog
logger = fastevlog.EventLogCounter(directory=sys.argv[1], buffer_bytes=int(sys.argv[2]), on_full="block")
real = logger._scheduler.pool.pwritev
def slow(fd, buffers, offset):
    time.sleep(0.002)
    return real(fd, buffers, offset)
logger._scheduler.pool.pwritev = slow
for n in range(int(sys.argv[3])):
    logger.info("e", "x" * 200, n=n)
logger.stop()
# VmHWM, not ru_maxrss: the latter keeps the peak of the forked parent from before exec.
peak_kib = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(peak_kib, logger.metrics()["dropped"])
"""


class TestBackpressure:
    @pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmHWM from /proc")
    def test_slow_writer_bounded_memory(self, tmp_path):
        """A slowed writer with on_full="block": peak RSS does not grow with the events logged."""
        peaks = []
        for events in (20_000, 200_000):
            logs = tmp_path / str(events)
            result = subprocess.run(
                [sys.executable, "-c", BACKPRESSURE, str(logs), str(1024 * 1024), str(events)],
                cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, result.stderr
            peak_kib, dropped = map(int, result.stdout.split())
            assert dropped == 0
            assert [e["n"] for e in read_events(logs)] == list(range(events))
            peaks.append(peak_kib)
        # 10x the events through a 1 MiB buffer: the peak grows by far less than their ~50 MB.
        assert peaks[1] - peaks[0] < 8 * 1024, peaks

    def test_producers_wait_with_the_gil_released(self, tmp_path):
        """While producers are blocked on a full buffer, other Python threads run."""
        gate = threading.Event()
        ticks = [0]
        with EventLogCounter(directory=tmp_path, buffer_bytes=64 * 1024) as logger:
            pool = logger._scheduler.pool
            real = pool.pwritev
            pool.pwritev = lambda fd, buffers, offset: gate.wait() and real(fd, buffers, offset)

            def produce():
                for n in range(5000):
                    logger.info("e", "x" * 100, n=n)

            producer = threading.Thread(target=produce)
            producer.start()
            threading.Event().wait(0.2)  # the ring is full by now; the producer waits
            before = ticks[0]
            for _ in range(1000):
                ticks[0] += 1
            assert producer.is_alive() and ticks[0] - before == 1000
            gate.set()
            producer.join()
        assert [e["n"] for e in read_events(tmp_path)] == list(range(5000))
