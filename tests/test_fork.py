"""fork() while threads log: the child neither hangs nor writes the parent's events, and logs its own."""

import os
import threading

import pytest
from support import read_events

from fastevlog import EventLogCounter

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


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
