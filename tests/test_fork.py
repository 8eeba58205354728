"""fork() while threads log: the child neither hangs nor writes the parent's events, and logs its own."""

import fcntl
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
import traceback

import pytest
from support import child_env, read_events

from fastevlog import EventLogCounter, _core

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    # Forking while the logger's threads run is what these tests check; Python 3.12+ warns on every such fork.
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning"),
]


def _wait_for_child(pid, timeout=30.0):
    """The child's exit status, failing the test (and killing it) if it hangs."""
    done = threading.Event()
    status = []

    def wait():
        status.append(os.waitpid(pid, 0)[1])
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    if not done.wait(timeout):
        os.kill(pid, 9)
        pytest.fail("the forked child hung")
    return os.waitstatus_to_exitcode(status[0])


class TestFork:
    def test_fork_while_threads_log(self, tmp_path):
        """Parent and child each write exactly their own events, once."""
        stop = threading.Event()
        logger = EventLogCounter(directory=tmp_path, buffer_bytes=64 * 1024, flush_interval=0.01)
        sent = {t: 0 for t in range(4)}

        def produce(t):
            while not stop.is_set():
                logger.info("parent", thread=t, n=sent[t])
                sent[t] += 1

        workers = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
        for worker in workers:
            worker.start()
        try:
            threading.Event().wait(0.1)
            pid = os.fork()
            if pid == 0:  # the child: only this thread survived the fork
                code = 1
                try:
                    assert logger.counts() == {"levels": {}, "event_ids": {}}
                    for n in range(1000):
                        logger.info("child", n=n)
                    logger.stop()
                    code = 0 if logger.metrics()["events_written"] == 1000 else 2
                finally:
                    os._exit(code)
            threading.Event().wait(0.1)
        finally:
            stop.set()
            for worker in workers:
                worker.join()
        assert _wait_for_child(pid) == 0
        logger.stop()

        events = read_events(tmp_path)
        child = [e["n"] for e in events if e["event_id"] == "child"]
        assert child == list(range(1000))
        parent = [(e["thread"], e["n"]) for e in events if e["event_id"] == "parent"]
        assert len(parent) == len(set(parent)) == sum(sent.values())
        assert logger.counts()["event_ids"] == {"parent": sum(sent.values())}
        assert not list(tmp_path.glob("*.buffer"))

    def test_child_buffer_file_is_its_own(self, tmp_path):
        """The child logs through a buffer file of its own pid; the parent's is untouched."""
        with EventLogCounter(directory=tmp_path, flush_interval=3600) as logger:
            logger.info("before")
            parent_buffer = logger.buffer_path
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read)
                os.write(write, logger.buffer_path.encode())
                logger.info("in child")
                logger.stop()
                os._exit(0)
            os.close(write)
            child_buffer = os.read(read, 4096).decode()
            os.close(read)
            assert _wait_for_child(pid) == 0
            assert child_buffer != parent_buffer
            assert str(os.getpid()) not in os.path.basename(child_buffer)
            assert os.path.exists(parent_buffer) and not os.path.exists(child_buffer)
            logger.info("after")
        assert sorted(e["event_id"] for e in read_events(tmp_path)) == ["after", "before", "in child"]


# A parent that logs, forks a child, and sleeps until killed.  The child (once
# the at-fork hooks ran) says its pid, logs its own events once told to, and
# says how many it wrote.
_PARENT = textwrap.dedent("""
    import os, sys, time
    from fastevlog import EventLogCounter
    logger = EventLogCounter(directory=sys.argv[1], flush_interval=3600)
    for n in range(int(sys.argv[2])):
        logger.info("parent", n=n)
    if os.fork() == 0:
        print(os.getpid(), flush=True)
        sys.stdin.readline()
        for n in range(100):
            logger.info("child", n=n)
        logger.stop()
        print("child wrote", logger.metrics()["events_written"], flush=True)
        os._exit(0)
    time.sleep(3600)
""")


def _read_line(stream, timeout=30.0):
    """One line of a child's stdout, failing the test if none comes."""
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        if not select.select([stream], [], [], max(0.0, deadline - time.monotonic()))[0]:
            pytest.fail(f"no line from the child process (got {line!r})")
        byte = os.read(stream.fileno(), 1)
        if not byte:
            pytest.fail(f"the child process ended without a line (got {line!r})")
        line += byte
    return line.decode().strip()


class TestParentKilled:
    def test_dead_parent_recovered_while_child_lives(self, tmp_path):
        """The parent is SIGKILLed with its events still in its buffer while its forked child lives:
        the next logger recovers every one of them, and the child then logs its own."""
        events = 1000  # all in the active segment: only recovery can write them
        parent = subprocess.Popen([sys.executable, "-c", _PARENT, str(tmp_path), str(events)], cwd=tmp_path,
                                  env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        child = None
        try:
            child = int(_read_line(parent.stdout))
            parent.kill()
            parent.wait()
            with EventLogCounter(directory=tmp_path) as logger:
                assert logger.recovered_events == events
            parent.stdin.write(b"go\n")
            parent.stdin.flush()
            assert _read_line(parent.stdout) == "child wrote 100"
            child = None
        finally:
            if child is not None:
                os.kill(child, signal.SIGKILL)
            parent.kill()
            parent.wait()
            parent.stdin.close()
            parent.stdout.close()
        written = [(e["event_id"], e["n"]) for e in read_events(tmp_path)]
        expected = [("parent", n) for n in range(events)] + [("child", n) for n in range(100)]
        assert sorted(written) == sorted(expected)
        assert not list(tmp_path.glob("*.buffer"))


class TestChildLetsGo:
    @pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs Linux /proc")
    def test_fork_while_a_writer_holds_views(self, tmp_path):
        """Forked while a writer thread is inside a write of the parent's buffer: the child maps
        and holds open only its own buffer file, and logs."""
        gate = threading.Event()
        entered = threading.Event()
        logger = EventLogCounter(directory=tmp_path, flush_interval=0.01)
        pool = logger._scheduler.pool
        real = pool.pwritev

        def held(fd, views, offset):
            entered.set()
            gate.wait()
            return real(fd, views, offset)

        pool.pwritev = held
        try:
            logger.info("parent")
            assert entered.wait(30)
            parent_buffer = os.path.basename(logger.buffer_path)
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    logger.info("child")
                    with open("/proc/self/maps") as maps:
                        mapped = {line.split()[-1] for line in maps if line.rstrip().endswith(".buffer")}
                    opened = set()
                    for fd in os.listdir("/proc/self/fd"):
                        try:
                            opened.add(os.readlink(f"/proc/self/fd/{fd}"))
                        except FileNotFoundError:  # the listing's own descriptor
                            pass
                    mine = os.path.join(str(tmp_path), os.path.basename(logger.buffer_path))
                    code = 0 if mapped == {mine} and not any(p.endswith(parent_buffer) for p in opened) else 3
                    logger.stop()
                except BaseException:
                    traceback.print_exc()  # the parent's test only sees the exit code
                finally:
                    os._exit(code)
            assert _wait_for_child(pid) == 0
        finally:
            gate.set()
            logger.stop()
        assert sorted(e["event_id"] for e in read_events(tmp_path)) == ["child", "parent"]


class TestMappingAbandon:
    def test_abandon_lets_go_of_the_file_and_keeps_views_readable(self, tmp_path):
        """A mapping holds its file's lock; abandon() lets go of it, and views still read (zeroes)."""
        path = tmp_path / "mapped"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.posix_fallocate(fd, 0, 4096)
        fcntl.flock(fd, fcntl.LOCK_EX)
        mapping = _core.Mapping(fd, 4096)
        os.close(fd)  # the mapping alone now holds the open file description, and the lock
        view = memoryview(mapping)
        view[:5] = b"hello"

        def lockable():
            other = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False
            finally:
                os.close(other)

        assert not lockable()
        mapping.abandon()
        assert lockable()
        assert view[:5] == bytes(5)  # a stale view reads memory, not the file and not a fault
        with pytest.raises(ValueError):
            memoryview(mapping)
        view.release()
        assert path.read_bytes()[:5] == b"hello"  # the file keeps what was written through the mapping
