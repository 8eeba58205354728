"""Log files that cannot be created, and background threads that end: never a hang, never a loss.

The faults are real: descriptors exhausted (RLIMIT_NOFILE, in a child), a
tmpfs out of inodes, an immutable directory, a deleted directory.  Every wait
on the logger runs in a thread joined with a timeout, so a hang fails the
test instead of stalling the run.
"""

import json
import logging
import shutil
import subprocess
import textwrap
import threading

import pytest
import support

import fastevlog

LOG_FILE = "app"
TIMEOUT = 20.0


def call(function, *args, **kwargs):
    """function(*args, **kwargs) in a thread: its exception (None if it returned); fails if it hangs."""
    outcome = []

    def target():
        try:
            function(*args, **kwargs)
            outcome.append(None)
        except BaseException as error:  # handed to the caller
            outcome.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(TIMEOUT)
    assert not thread.is_alive(), f"{getattr(function, '__name__', function)} still running after {TIMEOUT} s"
    return outcome[0]


def make(directory, **kwargs):
    kwargs.setdefault("log_file", LOG_FILE)
    kwargs.setdefault("flush_interval", 0.05)
    kwargs.setdefault("max_file_size", 2000)  # a new file every ~20 lines
    kwargs.setdefault("buffer_bytes", 256 * 1024)
    kwargs.setdefault("max_retries", 2)
    return fastevlog.EventLogCounter(directory=str(directory), **kwargs)


def log_range(logger, first, last):
    for seq in range(first, last):
        logger.info("tick", "about a hundred bytes of line", seq=seq)


def seqs(directory):
    return [event["seq"] for event in support.read_events(directory, log_file=LOG_FILE)]


def records(caplog, level, text):
    return [r for r in caplog.records
            if r.name == "fastevlog" and r.levelno == level and text in r.getMessage()]


@pytest.fixture
def info_log(caplog):
    caplog.set_level(logging.INFO, logger="fastevlog")
    return caplog


# Logs 200 lines, then, for about a second across rotations, lets the process
# open no descriptor (RLIMIT_NOFILE lowered to what is open), flushing once
# meanwhile; then raises the limit again and logs 200 more.  The lowest
# descriptors are taken before the logger starts, so that the ones it closes
# at a rotation lie above the lowered limit and cannot be reused.
EMFILE_CHILD = textwrap.dedent("""
    import errno, json, logging, os, resource, sys, time
    import fastevlog

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
    low = [os.open("/dev/null", os.O_RDONLY) for _ in range(16)]
    logger = fastevlog.EventLogCounter(log_file="app", directory=sys.argv[1], flush_interval=0.02,
                                       max_file_size=2000, buffer_bytes=256 * 1024, max_retries=2)

    def log(first, last):
        for seq in range(first, last):
            logger.info("tick", "about a hundred bytes of line", seq=seq)

    log(0, 200)
    logger.flush()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(low) + 1, hard))
    try:
        os.close(os.open("/dev/null", os.O_RDONLY))
        raise AssertionError("a descriptor could still be opened")
    except OSError as error:
        assert error.errno == errno.EMFILE, error
    log(200, 400)
    try:
        logger.flush()
        outcome = "returned"
    except fastevlog.WriteError as error:
        outcome = "WriteError"
    time.sleep(1.0)
    during = logger.metrics()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    logger.flush()
    log(400, 600)
    logger.stop()
    print(json.dumps({"outcome": outcome, "during": during, "after": logger.metrics()}))
""")


def test_descriptors_exhausted_across_rotations(tmp_path):
    """EMFILE for a second: flush() raises WriteError meanwhile; afterwards every event is written once."""
    logs = tmp_path / "logs"
    child = support.run_python(EMFILE_CHILD.replace("sys.argv[1]", repr(str(logs))), tmp_path,
                               capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert result["outcome"] == "WriteError"
    during, after = result["during"], result["after"]
    assert during["file_open_failures"] >= 3
    assert during["events_written"] == 200
    assert after["events_written"] == after["events_logged"] == 600
    assert seqs(logs) == list(range(600))
    errors = [line for line in child.stderr.splitlines() if line.startswith("ERROR cannot create a log file")]
    assert len(errors) == after["file_open_failures"]
    assert all("Too many open files" in line for line in errors)
    assert child.stderr.count("CRITICAL cannot create log files") == 1  # once per outage
    assert child.stderr.count("can be created in") == 1
    assert not list(logs.glob("*.buffer"))


@pytest.fixture
def tmpfs(tmp_path):
    """A tmpfs of 64 inodes, mounted for the test (skipped where mounting is not allowed)."""
    with support.mounted_tmpfs(tmp_path / "mnt", "size=16m,nr_inodes=64") as mount_point:
        yield mount_point


def test_no_inodes_left(tmpfs, info_log):
    """ENOSPC creating files: retried, counted, reported; every event written once when inodes return."""
    logs = tmpfs / "logs"
    logger = make(logs)
    try:
        log_range(logger, 0, 100)
        assert call(logger.flush) is None
        fillers = []
        while True:  # take every inode left
            try:
                path = tmpfs / f"filler{len(fillers)}"
                path.touch()
                fillers.append(path)
            except OSError:
                break
        log_range(logger, 100, 300)
        assert isinstance(call(logger.flush), fastevlog.WriteError)
        failures = logger.metrics()["file_open_failures"]
        assert failures >= 3
        assert len(records(info_log, logging.CRITICAL, "cannot create log files")) == 1
        assert records(info_log, logging.ERROR, "No space left on device")
        for path in fillers:
            path.unlink()
        assert call(logger.flush) is None
        log_range(logger, 300, 400)
    finally:
        assert call(logger.stop) is None
    assert seqs(logs) == list(range(400))
    metrics = logger.metrics()
    assert metrics["events_written"] == 400
    assert metrics["file_open_failures"] >= failures
    assert records(info_log, logging.INFO, "can be created in")


@pytest.fixture
def immutable(tmp_path):
    """chattr +i / -i on a directory; skipped where the filesystem or tool does not allow it."""
    made = []

    def set_immutable(path, on=True):
        done = subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True, text=True)
        if done.returncode:
            if on:
                pytest.skip(f"cannot make {path} immutable: {done.stderr.strip()}")
            raise AssertionError(done.stderr)
        if on:
            made.append(path)
        else:
            made.remove(path)

    yield set_immutable
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.parametrize("on_full", ["block", "drop"])
def test_immutable_directory(tmp_path, immutable, info_log, on_full):
    """EPERM creating files: block waits, drop drops and counts; nothing logged is lost or doubled.

    (A read-only remount cannot serve here: the kernel refuses it, EBUSY,
    while the logger holds its buffer file open for writing.)
    """
    logs = tmp_path / "logs"
    logger = make(logs, buffer_bytes=64 * 1024, on_full=on_full)
    try:
        log_range(logger, 0, 100)
        assert call(logger.flush) is None
        immutable(logs)
        if on_full == "block":
            log_range(logger, 100, 300)  # fits the ring
        else:
            log_range(logger, 100, 2000)  # fills the ring: the rest is dropped
        assert isinstance(call(logger.flush), fastevlog.WriteError)
        assert records(info_log, logging.ERROR, "Operation not permitted")
        immutable(logs, on=False)
        assert call(logger.flush) is None
    finally:
        assert call(logger.stop) is None
    metrics = logger.metrics()
    written = seqs(logs)
    assert metrics["file_open_failures"] >= 3
    assert len(written) == len(set(written)) == metrics["events_written"] == metrics["events_logged"]
    assert written == sorted(written)
    if on_full == "block":
        assert written == list(range(300))
        assert metrics["dropped"] == 0
    else:
        assert metrics["dropped"] > 0
        assert metrics["dropped"] == 2000 - len(written)
        assert written[:100] == list(range(100))


def test_block_producer_waits_out_the_outage(tmp_path, immutable):
    """on_full="block", ring full while no file can be created: log() waits, then goes on once it can."""
    logs = tmp_path / "logs"
    logger = make(logs, buffer_bytes=64 * 1024)
    try:
        immutable(logs)
        producer = threading.Thread(target=log_range, args=(logger, 0, 3000), daemon=True)
        producer.start()
        producer.join(0.5)
        assert producer.is_alive(), "3000 lines should not fit a 64 KiB ring"
        assert logger.metrics()["buffer_full_waits"] >= 1
        immutable(logs, on=False)
        producer.join(TIMEOUT)
        assert not producer.is_alive()
        assert call(logger.flush) is None
    finally:
        assert call(logger.stop) is None
    assert seqs(logs) == list(range(3000))


def test_directory_deleted_while_running(tmp_path, info_log):
    """rmtree of the log directory: it is recreated, the events logged since are written there once.

    The report says where the pending events are: in memory only, their buffer file having gone too.
    """
    logs = tmp_path / "logs"
    logger = make(logs)
    try:
        log_range(logger, 0, 100)
        assert call(logger.flush) is None
        shutil.rmtree(logs)
        log_range(logger, 100, 300)
        assert call(logger.flush) is None
        log_range(logger, 300, 400)
    finally:
        assert call(logger.stop) is None
    assert seqs(logs) == list(range(100, 400))
    reported = records(info_log, logging.ERROR, "was deleted")
    assert len(reported) == 1
    assert "only in this process's memory" in reported[0].getMessage()
    assert not list(logs.glob("*.buffer"))
    assert not records(info_log, logging.CRITICAL, "")


def test_directory_deleted_and_not_recreatable(tmp_path, immutable, info_log):
    """The directory deleted and its parent immutable: flush() raises, stop() says the events are lost."""
    parent = tmp_path / "parent"
    logs = parent / "logs"
    logger = make(logs)
    try:
        log_range(logger, 0, 50)
        assert call(logger.flush) is None
        shutil.rmtree(logs)
        immutable(parent)
        log_range(logger, 50, 100)
        assert isinstance(call(logger.flush), fastevlog.WriteError)
        assert records(info_log, logging.ERROR, "Operation not permitted")
    finally:
        assert call(logger.stop) is None
    stopping = records(info_log, logging.CRITICAL, "stopping with unwritten events")
    assert len(stopping) == 1
    assert "lost" in stopping[0].getMessage() and "stay in" not in stopping[0].getMessage()


class TestThreadsThatEnd:
    """A background thread ending on an unexpected error is reported and makes calls raise, not hang."""

    def test_scheduler_error_breaks_the_logger(self, tmp_path, info_log):
        """LogFiles.place raising TypeError: a producer waiting for room, flush(), log(), log_many() raise."""
        logger = make(tmp_path, buffer_bytes=64 * 1024, flush_interval=60)
        release = threading.Event()

        def broken_place(*args, **kwargs):
            release.wait()
            raise TypeError("injected")

        logger._files.place = broken_place
        producer_error = []

        def produce():
            try:
                log_range(logger, 0, 3000)  # more than the ring holds
            except RuntimeError as error:
                producer_error.append(error)

        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        producer.join(0.5)
        assert producer.is_alive() and logger.metrics()["buffer_full_waits"] >= 1
        release.set()
        producer.join(TIMEOUT)
        assert not producer.is_alive(), "the producer waiting for room still waits"
        assert producer_error and "scheduler thread ended on TypeError: injected" in str(producer_error[0])
        error = call(logger.flush)
        assert isinstance(error, RuntimeError) and "TypeError: injected" in str(error)
        with pytest.raises(RuntimeError, match="broken.*scheduler thread ended on TypeError"):
            logger.info("after", seq=0)
        with pytest.raises(RuntimeError, match="broken.*scheduler thread ended on TypeError"):
            logger.log_many("INFO", ["a", "b"])
        critical = records(info_log, logging.CRITICAL, "scheduler thread ended")
        assert len(critical) == 1 and "Traceback" in critical[0].getMessage()
        assert call(logger.stop) is None
        assert records(info_log, logging.CRITICAL, "they stay in")

    def test_writer_error_breaks_the_logger(self, tmp_path, info_log):
        """pwritev raising TypeError (not an OSError): flush() and log() raise RuntimeError naming it."""
        logger = make(tmp_path)

        def broken_pwritev(fd, buffers, offset):
            del buffers
            raise TypeError("injected")

        logger._scheduler.pool.pwritev = broken_pwritev
        log_range(logger, 0, 100)
        error = call(logger.flush)
        assert isinstance(error, RuntimeError) and "writer thread" in str(error) and "TypeError" in str(error)
        with pytest.raises(RuntimeError, match="broken.*TypeError: injected"):
            logger.info("after", seq=0)
        critical = records(info_log, logging.CRITICAL, "ended on TypeError")
        assert critical and "Traceback" in critical[0].getMessage()
        assert call(logger.stop) is None
        assert records(info_log, logging.CRITICAL, "they stay in")
