"""Shipping to a real NATS JetStream and collecting exactly once (issue 15), end to end.

Each test logs (or finds) events in a source directory, ships them with the logger's own shipper
(``ship_to=fastevlog.NatsShipper(...)``) or the ``fastevlog ship`` sidecar, collects them with
``fastevlog collect`` into a mirror, and checks that the mirror of the host, DIR/{host}, holds the
source's log files byte for byte (every event exactly once, in place) and that ``fastevlog count``
says the same of both.  Faults are real: SIGKILL of the server, the shipper, the logging process,
the collector, a cluster node; an outage longer than the stream's duplicate window.  Every wait is
bounded and stops by itself; nothing listens but on loopback.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from nats_servers import (
    NatsCluster,
    NatsServer,
    consumer_info,
    make_stream,
    mirror_differences,
    require_nats_server,
    run_async,
    stream_info,
    wait_until,
)
from support import child_env

import fastevlog

HOST = "h2-test-host"
STREAM = "FASTEVLOG"
SUBJECT = "fastevlog.events"
# Long enough for a loaded 2-core machine to ship and collect tens of MB; a healthy run takes seconds.
SETTLE = 120.0


@pytest.fixture(autouse=True)
def _nats_server():
    require_nats_server()


@pytest.fixture
def server(tmp_path):
    node = NatsServer(tmp_path).start()
    yield node
    node.kill()


# -- processes: collectors, sidecar shippers, logging children --


class Child:
    """A ``python -m fastevlog`` (or ``-c`` script) child whose output goes to a file, killed at teardown."""

    def __init__(self, tmp_path: Path, name: str, args: List[str]) -> None:
        self.name = name
        self.output_path = tmp_path / f"{name}.out"
        with open(self.output_path, "ab") as output:
            self.process = subprocess.Popen([sys.executable, *args], stdout=output, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, cwd=tmp_path, env=child_env())

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")[-4000:]

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and the exit status (the process must exit by itself within ``timeout``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not exit {timeout} s after SIGTERM:\n"
                                 f"{self.output()}") from None

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} still running after {timeout} s:\n{self.output()}") from None


@pytest.fixture
def children(tmp_path):
    """Start children with ``children(name, args)``; every one still running is SIGKILLed at teardown."""
    started: List[Child] = []

    def start(name: str, args: List[str]) -> Child:
        child = Child(tmp_path, name, args)
        started.append(child)
        return child

    yield start
    for child in started:
        child.kill()


def collect_args(urls: str, mirror: Path, *extra: str) -> List[str]:
    # A short ack_wait: what a killed collector (or a killed server) leaves unacked comes back soon.
    return ["-m", "fastevlog", "collect", "--nats", urls, "--dir", str(mirror), "--stream", STREAM,
            "--ack-wait", "2", *extra]


def ship_args(directory: Path, urls: str, *extra: str) -> List[str]:
    return ["-m", "fastevlog", "ship", str(directory), "--nats", urls, "--stream", STREAM,
            "--subject", SUBJECT, "--host", HOST, *extra]


def shipper(urls: str, **options) -> fastevlog.NatsShipper:
    return fastevlog.NatsShipper(servers=urls, stream=STREAM, subject=SUBJECT, host=HOST, **options)


# -- what the source and the mirror hold --


def source_size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.glob("*.log"))


def mirror_size(mirror: Path) -> int:
    host = mirror / HOST
    return sum(path.stat().st_size for path in host.glob("*.log")) if host.is_dir() else 0


def wait_mirrored(source: Path, mirror: Path, timeout: float = SETTLE) -> None:
    """Wait until DIR/{host} is byte-identical to the source; on timeout, fail naming what differs."""
    deadline = time.monotonic() + timeout
    total = source_size(source)
    while time.monotonic() < deadline:
        # Cheap size check first: the whole comparison reads both copies.
        if mirror_size(mirror) >= total and not mirror_differences(source, mirror / HOST):
            return
        time.sleep(0.2)
    problems = mirror_differences(source, mirror / HOST)
    assert not problems, (f"after {timeout} s the mirror ({mirror_size(mirror)} bytes) differs from the "
                          f"source ({total} bytes):\n" + "\n".join(problems[:20]))


def count(path: Path) -> Dict:
    done = subprocess.run([sys.executable, "-m", "fastevlog", "count", str(path), "--format", "json"],
                          capture_output=True, text=True, env=child_env(), timeout=120, cwd=path.parent)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["bad_lines"] == 0, result
    return result


def assert_counts_equal(source: Path, mirror: Path, events: Optional[int] = None) -> None:
    """``fastevlog count`` of the collector's directory says what it says of the source."""
    of_source, of_mirror = count(source), count(mirror)
    assert of_mirror["groups"] == of_source["groups"]
    assert of_mirror["total"] == of_source["total"]
    if events is not None:
        assert of_source["total"] == events


def finish_collector(collector: Child) -> None:
    assert collector.running(), f"the collector exited early:\n{collector.output()}"
    assert collector.terminate() == 0, collector.output()


def log_threads(logger, threads: int, per_thread: int, tag: str = "e",
                pause: Optional[threading.Barrier] = None, pause_every: int = 0) -> None:
    """``threads`` threads logging ``per_thread`` events each (event ids vary with the thread); with
    ``pause``, every thread waits at that barrier after each ``pause_every`` events."""
    errors: List[BaseException] = []

    def work(index: int) -> None:
        try:
            for n in range(per_thread):
                logger.info(f"{tag}{index}", n=n)
                if pause is not None and n % pause_every == pause_every - 1:
                    pause.wait(timeout=SETTLE)
        except BaseException as error:  # noqa: BLE001 - reported by the test's thread below
            errors.append(error)

    workers = [threading.Thread(target=work, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=SETTLE)
    assert not any(worker.is_alive() for worker in workers), "log() blocked"
    assert not errors, errors


def wait_acked(logger, source: Path, timeout: float = SETTLE) -> Dict[str, int]:
    """Flush and wait until the logger's shipper has acked every byte of the source's files; its metrics.

    Both conditions: a lag of 0 alone may be from before the shipper saw the last flushed bytes.
    """
    logger.flush()
    total = source_size(source)

    def acked() -> Optional[Dict[str, int]]:
        metrics = logger.metrics()
        return metrics if metrics["ship_lag_bytes"] == 0 and metrics["shipped_bytes"] >= total else None

    return wait_until(acked, timeout, "the shipper to ack every written byte", interval=0.1)


def wait_mid_ship(logger, source: Path) -> None:
    """Flush, and return once the shipper has some bytes acked and over 2 MB still to go: a fault
    injected now lands mid-ship (an ack in flight is 1 MB at most)."""
    logger.flush()

    def mid_ship() -> bool:
        shipped = logger.metrics()["shipped_bytes"]
        return shipped > 0 and source_size(source) - shipped > 2_000_000

    wait_until(mid_ship, SETTLE, "the shipper mid-way (some bytes acked, 2 MB to go)", interval=0.001)


def messages(urls: str) -> int:
    try:
        return int(run_async(stream_info(urls, STREAM)).state.messages)
    except Exception:  # noqa: BLE001 - no stream yet, or the server is down: nothing shipped as far as we know
        return 0


def assert_stored_once(urls: str, source: Path) -> None:
    """The stream holds the source's bytes once: its size is theirs plus a message's headers each."""
    stored = run_async(stream_info(urls, STREAM)).state
    extra = stored.bytes - source_size(source)
    assert 0 <= extra <= 512 * stored.messages, (
        f"the stream holds {stored.bytes} bytes in {stored.messages} messages for {source_size(source)} "
        f"bytes of files")


def consumer_done(urls: str, durable: str = "fastevlog-collect") -> bool:
    """The collectors' consumer has every message of the stream delivered and acked."""
    try:
        info = run_async(consumer_info(urls, STREAM, durable))
        return info.num_pending == 0 and info.num_ack_pending == 0
    except Exception:  # noqa: BLE001 - not created yet, or the server is down: not done
        return False


def cursor_acked(directory: Path) -> int:
    """The bytes the persisted cursor says are acked, over all files (0 without a cursor file)."""
    path = directory / f".fastevlog-ship-{STREAM}.json"
    try:
        return sum(json.loads(path.read_text())["files"].values())
    except (OSError, ValueError, KeyError):
        return 0


# -- the eight tests --


def test_million_events_from_20_threads_shipped_while_logged(tmp_path, server, children):
    source, mirror = tmp_path / "logs", tmp_path / "mirror"
    source.mkdir()
    make_stream(server.url, STREAM, [SUBJECT])
    collector = children("collector", collect_args(server.url, mirror))
    with fastevlog.EventLogCounter(directory=source, ship_to=shipper(server.url)) as logger:
        acked_after: List[int] = []

        def some_shipped() -> None:
            # Shipped while logged: the threads wait, each 12,500 events, until more is acked.
            before = acked_after[-1] if acked_after else 0
            acked_after.append(wait_until(lambda: logger.metrics()["shipped_bytes"] > before and
                                          logger.metrics()["shipped_bytes"], SETTLE, "more bytes acked"))

        log_threads(logger, threads=20, per_thread=50_000,
                    pause=threading.Barrier(20, action=some_shipped), pause_every=12_500)
        metrics = wait_acked(logger, source)
    assert len(acked_after) == 4
    total = source_size(source)
    assert metrics["shipped_bytes"] == total
    assert metrics["shipped_events"] == 1_000_000
    assert metrics["ship_lag_bytes"] == 0
    wait_mirrored(source, mirror)
    finish_collector(collector)
    assert_counts_equal(source, mirror, events=1_000_000)
    assert_stored_once(server.url, source)


def test_server_killed_mid_ship_and_restarted_on_its_store(tmp_path, server, children):
    source, mirror = tmp_path / "logs", tmp_path / "mirror"
    source.mkdir()
    make_stream(server.url, STREAM, [SUBJECT])
    collector = children("collector", collect_args(server.url, mirror))
    with fastevlog.EventLogCounter(directory=source, max_file_size=2 * 1024 * 1024,
                                   ship_to=shipper(server.url)) as logger:
        log_threads(logger, threads=4, per_thread=50_000, tag="before")
        logger.flush()
        # Kill as soon as the stream holds something: the shipper is mid-way through 16 MB.
        wait_mid_ship(logger, source)
        server.kill()
        assert logger.metrics()["shipped_bytes"] < source_size(source), "the server was not killed mid-ship"
        log_threads(logger, threads=4, per_thread=25_000, tag="down")
        logger.flush()
        time.sleep(0.5)  # the shipper meets the dead server
        server.restart()
        log_threads(logger, threads=4, per_thread=25_000, tag="after")
        metrics = wait_acked(logger, source)
    assert metrics["ship_reconnects"] > 0
    assert metrics["shipped_bytes"] >= source_size(source)
    wait_mirrored(source, mirror)
    finish_collector(collector)
    assert_counts_equal(source, mirror, events=400_000)
    # No duplicate in the stream either: what the shipper published again after the kill carried the
    # same ids, and the restarted server (its duplicate window rebuilt from its store) dropped them.
    assert_stored_once(server.url, source)


LOGGING_SHIPPER = """
import json, sys, threading, time, fastevlog
directory, url, stream, subject, host, per_thread = sys.argv[1:7]
logger = fastevlog.EventLogCounter(directory=directory, max_file_size=1024 * 1024, flush_interval=0.05,
    ship_to=fastevlog.NatsShipper(servers=url, stream=stream, subject=subject, host=host))
tag = "again" if len(sys.argv) > 7 else "child"  # the restarted process's events are its own
def work(index):
    for n in range(int(per_thread)):
        logger.info(f"{tag}{index}", n=n)
        if n % 25000 == 24999:
            time.sleep(0.2)  # in bursts of 8 MB (4 threads): the shipper has some catching up to do
threads = [threading.Thread(target=work, args=(index,)) for index in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
logger.flush()
print("logged", flush=True)
if len(sys.argv) > 7:  # the restarted process: wait for the shipper, then stop
    deadline = time.monotonic() + float(sys.argv[7])
    while logger.metrics()["ship_lag_bytes"] and time.monotonic() < deadline:
        time.sleep(0.05)
    print(json.dumps(logger.metrics()), flush=True)
    logger.stop()
else:
    threading.Event().wait()  # keep shipping until killed
"""


def test_shipper_and_logging_process_killed_mid_ship_resume_from_the_cursor(tmp_path, server, children):
    source, mirror = tmp_path / "logs", tmp_path / "mirror"
    source.mkdir()
    # A 1 s duplicate window, long over by the restart: a shipper starting again from offset 0
    # instead of its cursor would put every chunk twice in the stream.
    make_stream(server.url, STREAM, [SUBJECT], duplicate_window=1.0)
    # Killed while it logs (in bursts, for 2 s at least) and ships: once it has persisted a cursor,
    # when the files hold over 2 MB more than that cursor says is acked.
    first = children("logging-1", ["-c", LOGGING_SHIPPER, str(source), server.url, STREAM, SUBJECT, HOST,
                                   "250000"])

    def behind() -> bool:
        acked = cursor_acked(source)
        return acked > 0 and source_size(source) - acked > 2_000_000

    wait_until(lambda: behind() or not first.running(), SETTLE, "a cursor 2 MB behind the files",
               interval=0.005)
    assert first.running(), first.output()
    first.kill()
    acked_at_kill = cursor_acked(source)
    stored_at_kill = run_async(stream_info(server.url, STREAM)).state
    assert 0 < acked_at_kill < source_size(source), "the shipper was not killed mid-ship"
    time.sleep(1.5)  # past the duplicate window

    second = children("logging-2", ["-c", LOGGING_SHIPPER, str(source), server.url, STREAM, SUBJECT, HOST,
                                    "25000", str(SETTLE)])
    assert second.wait(SETTLE + 30) == 0, second.output()
    metrics = json.loads(second.output().splitlines()[-1])
    assert metrics["ship_lag_bytes"] == 0, metrics
    # The killed logger's events (in the files, and in its buffer file that the second logger
    # recovered) are all in the source; whatever is still unacked is shipped by the sidecar.
    sidecar = children("ship", ship_args(source, server.url, "--until-idle", "1"))
    assert sidecar.wait(SETTLE) == 0, sidecar.output()

    collector = children("collector", collect_args(server.url, mirror))
    wait_mirrored(source, mirror)
    finish_collector(collector)
    # The killed logger's events are those its files and its buffer file held (the second logger
    # recovered the latter): no fixed total, but each at most once and the counts alike.
    assert_counts_equal(source, mirror)
    seen = set()
    for path in (mirror / HOST).glob("*.log"):
        for line in path.read_bytes().splitlines():
            event = json.loads(line)
            key = (event["event_id"], event["n"])
            assert key not in seen, f"{key} twice"
            seen.add(key)
    assert sum(1 for key in seen if key[0] == "again0") == 25_000
    assert sum(1 for key in seen if key[0] == "child0") > 0
    # Resumed from the cursor: the stream holds the source once, plus at most what was published
    # after the last persisted cursor (and a header's worth a message).
    stored = run_async(stream_info(server.url, STREAM)).state
    replayed = stored.bytes - source_size(source)
    assert replayed <= (stored_at_kill.bytes - acked_at_kill) + 512 * stored.messages, (
        f"{replayed} bytes replayed; {acked_at_kill} acked by the cursor at the kill, {stored_at_kill.bytes} "
        f"bytes stored then")


def test_collector_killed_mid_write_and_restarted(tmp_path, children):
    # Small messages: many fetches and fdatasyncs, so the kill lands mid-way.
    with NatsServer(tmp_path, max_payload=64 * 1024) as server:
        source, mirror = tmp_path / "logs", tmp_path / "mirror"
        source.mkdir()
        with fastevlog.EventLogCounter(directory=source, max_file_size=2 * 1024 * 1024) as logger:
            log_threads(logger, threads=4, per_thread=50_000)
        make_stream(server.url, STREAM, [SUBJECT])
        sidecar = children("ship", ship_args(source, server.url, "--until-idle", "1"))
        assert sidecar.wait(SETTLE) == 0, sidecar.output()
        in_stream = messages(server.url)
        assert in_stream > 100
        # The extreme replay, a lost cursor: every chunk again, with the same ids, within the
        # duplicate window (2 minutes by default): the server drops them all.
        (source / f".fastevlog-ship-{STREAM}.json").unlink()
        replay = children("ship-again", ship_args(source, server.url, "--until-idle", "1"))
        assert replay.wait(SETTLE) == 0, replay.output()
        assert messages(server.url) == in_stream

        first = children("collector-1", collect_args(server.url, mirror, "--batch", "4"))
        wait_until(lambda: mirror_size(mirror) > 0 or not first.running(), SETTLE, "the first mirrored bytes",
                   interval=0.01)
        first.kill()
        assert 0 < mirror_size(mirror) < source_size(source), "the collector was not killed mid-way"
        second = children("collector-2", collect_args(server.url, mirror))
        wait_mirrored(source, mirror)
        finish_collector(second)
        assert messages(server.url) == in_stream
        assert_counts_equal(source, mirror, events=200_000)
        assert_stored_once(server.url, source)


def test_outage_longer_than_the_duplicate_window(tmp_path, server, children):
    source, mirror = tmp_path / "logs", tmp_path / "mirror"
    source.mkdir()
    make_stream(server.url, STREAM, [SUBJECT], duplicate_window=1.0)
    collector = children("collector", collect_args(server.url, mirror))
    with fastevlog.EventLogCounter(directory=source, max_file_size=2 * 1024 * 1024,
                                   ship_to=shipper(server.url)) as logger:
        log_threads(logger, threads=4, per_thread=50_000, tag="before")
        logger.flush()
        wait_mid_ship(logger, source)
        server.kill()
        assert logger.metrics()["shipped_bytes"] < source_size(source), "the server was not killed mid-ship"
        # Down for 2.5 s, over twice the window, while the shipper keeps trying and logging goes on.
        log_threads(logger, threads=4, per_thread=25_000, tag="down")
        time.sleep(2.5)
        server.restart()
        metrics = wait_acked(logger, source)
    assert metrics["ship_reconnects"] > 0
    wait_mirrored(source, mirror)
    # Whatever the kill left unacked came again once the window was over; to be sure the collector
    # meets duplicates past the window, every chunk once more (a lost cursor): the stream keeps them
    # all, and the mirror must not change.
    stored_before = run_async(stream_info(server.url, STREAM)).state.bytes
    (source / f".fastevlog-ship-{STREAM}.json").unlink()
    time.sleep(1.5)  # the last chunks' window over too
    replay = children("ship-again", ship_args(source, server.url, "--until-idle", "1"))
    assert replay.wait(SETTLE) == 0, replay.output()
    # Every byte stored again (counting messages would not do: the stream may already hold a chunk twice).
    assert run_async(stream_info(server.url, STREAM)).state.bytes - stored_before >= source_size(source)
    wait_until(lambda: consumer_done(server.url), SETTLE, "the collector to ack every message")
    assert not mirror_differences(source, mirror / HOST), mirror_differences(source, mirror / HOST)
    finish_collector(collector)
    assert_counts_equal(source, mirror, events=300_000)


def test_cluster_node_killed_mid_ship_shipper_fails_over(tmp_path, children):
    with NatsCluster(tmp_path, size=3) as cluster:
        source, mirror = tmp_path / "logs", tmp_path / "mirror"
        source.mkdir()
        make_stream(cluster.urls, STREAM, [SUBJECT], replicas=3)
        collector = children("collector", collect_args(cluster.urls, mirror))
        with fastevlog.EventLogCounter(directory=source, max_file_size=2 * 1024 * 1024,
                                       ship_to=shipper(cluster.urls)) as logger:
            # The node the shipper is connected to (by its client name, in connz), else the stream's leader.
            try:
                victim = wait_until(lambda: cluster.node_serving("fastevlog-ship"), 10, "the shipper's node",
                                    interval=0.1)
                shippers_node = True
            except AssertionError:
                victim, shippers_node = cluster.stream_leader(STREAM), False
            log_threads(logger, threads=4, per_thread=50_000, tag="before")
            wait_mid_ship(logger, source)
            victim.kill()
            log_threads(logger, threads=4, per_thread=25_000, tag="after")
            metrics = wait_acked(logger, source)
        assert metrics["shipped_bytes"] >= source_size(source)
        if shippers_node:
            assert metrics["ship_reconnects"] > 0  # its node died: it went on through another
        wait_mirrored(source, mirror)
        finish_collector(collector)
        assert_counts_equal(source, mirror, events=300_000)
        assert_stored_once(cluster.urls, source)


PRODUCER = """
import os, sys, time, fastevlog
with fastevlog.EventLogCounter(directory=sys.argv[1], max_file_size=512 * 1024,
                               flush_interval=0.02) as logger:
    for n in range(int(sys.argv[2])):
        logger.info("e", pid=os.getpid(), n=n)
        if n % 500 == 499:
            time.sleep(0.005)  # over a second or so: the sidecar meets files still growing
"""


def test_eight_processes_one_directory_one_sidecar(tmp_path, server, children):
    source, mirror = tmp_path / "logs", tmp_path / "mirror"
    source.mkdir()
    make_stream(server.url, STREAM, [SUBJECT])
    collector = children("collector", collect_args(server.url, mirror))
    sidecar = children("ship", ship_args(source, server.url))
    producers = [children(f"producer-{index}", ["-c", PRODUCER, str(source), "30000"]) for index in range(8)]
    for producer in producers:
        assert producer.wait(SETTLE) == 0, producer.output()
    wait_mirrored(source, mirror)
    assert sidecar.terminate() == 0, sidecar.output()
    finish_collector(collector)
    assert_counts_equal(source, mirror, events=8 * 30_000)
    assert_stored_once(server.url, source)
    # Every producer's events, each once (byte-identical files already say so; this names the process).
    pids = {}
    for path in (mirror / HOST).glob("*.log"):
        for line in path.read_bytes().splitlines():
            event = json.loads(line)
            pids.setdefault(event["pid"], []).append(event["n"])
    assert len(pids) == 8 and all(sorted(ns) == list(range(30_000)) for ns in pids.values())


def test_server_unreachable_from_the_start(tmp_path, children):
    server = NatsServer(tmp_path)  # its port is reserved, nothing listens yet
    try:
        source, mirror = tmp_path / "logs", tmp_path / "mirror"
        source.mkdir()
        with fastevlog.EventLogCounter(directory=source, max_file_size=2 * 1024 * 1024,
                                       ship_to=shipper(server.url)) as logger:
            log_threads(logger, threads=4, per_thread=50_000)
            logger.flush()
            written = source_size(source)
            assert len(list(source.glob("*.log"))) > 3  # the files accumulate
            assert logger.metrics()["events_written"] == 200_000
            assert logger.metrics()["shipped_bytes"] == 0
            # The lag counts while no server answers: an operator sees the backlog grow during an outage.
            wait_until(lambda: logger.metrics()["ship_lag_bytes"] == written, 30,
                       "ship_lag_bytes to count every written byte while the server is unreachable")
            server.start()
            # The shipper creates the missing stream once it connects; the collector needs it.
            wait_until(lambda: messages(server.url) > 0, SETTLE, "the shipper's stream")
            collector = children("collector", collect_args(server.url, mirror))
            metrics = wait_acked(logger, source)
        assert metrics["shipped_bytes"] == written
        assert metrics["shipped_events"] == 200_000
        wait_mirrored(source, mirror)
        finish_collector(collector)
        assert_counts_equal(source, mirror, events=200_000)
        assert_stored_once(server.url, source)
    finally:
        server.kill()


def test_stop_while_the_server_is_unreachable_ends_the_shipper(tmp_path):
    """stop() gives the shipper stop_timeout s and then it ends, connected or not: no thread is left
    retrying a server that never came (nats-py's first connect, told to retry forever, never returns)."""
    server = NatsServer(tmp_path)  # never started
    source = tmp_path / "logs"
    source.mkdir()
    logger = fastevlog.EventLogCounter(directory=source, ship_to=shipper(server.url, stop_timeout=0.5))
    log_threads(logger, threads=2, per_thread=1000)
    time.sleep(1.0)  # the shipper is in its connect loop
    logger.stop()
    wait_until(lambda: not any(thread.name == "fastevlog-shipper" and thread.is_alive()
                               for thread in threading.enumerate()), 30, "the shipper thread to end")
    # The files stay for the next shipper, and nothing was acked.
    assert logger.metrics()["shipped_bytes"] == 0
    assert source_size(source) > 0
