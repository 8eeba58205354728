"""Real nats-server processes for the shipping tests (issue 15): one node or a 3-node cluster with
JetStream, on free loopback ports, with their store and log under the test's tmp_path.

Every process a test starts is killed at its end (context managers, and an atexit backstop for a
test that forgot), so a failing test never leaves a server running on the machine.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple, Union

import pytest

NATS_SERVER = "/usr/sbin/nats-server"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0

# Servers started and not yet reaped: killed at interpreter exit whatever the tests did.
_LIVE: Set[subprocess.Popen] = set()


@atexit.register
def _kill_leftovers() -> None:
    for process in list(_LIVE):
        with contextlib.suppress(OSError):
            process.kill()
        with contextlib.suppress(Exception):
            process.wait(timeout=STOP_TIMEOUT)
    _LIVE.clear()


def _missing(reason: str) -> None:
    # CI installs nats-server and sets FASTEVLOG_REQUIRE_NATS=1: there a missing server is a failure,
    # elsewhere (a laptop without the Debian package) the tests skip and say why.
    if os.environ.get("FASTEVLOG_REQUIRE_NATS") == "1":
        pytest.fail(f"{reason} (FASTEVLOG_REQUIRE_NATS=1)")
    pytest.skip(reason)


def require_nats_server() -> str:
    """The nats-server binary's path; skips the test without it (fails under FASTEVLOG_REQUIRE_NATS=1)."""
    path = NATS_SERVER if os.access(NATS_SERVER, os.X_OK) else shutil.which("nats-server")
    if path is None:
        _missing(f"nats-server is not installed ({NATS_SERVER} missing; Debian package nats-server)")
    try:
        import nats  # noqa: F401
    except ImportError:
        _missing("nats-py is not installed (pip install 'fastevlog[nats]')")
    return str(path)


def free_ports(count: int) -> List[int]:
    """``count`` distinct loopback ports that were free a moment ago.

    All sockets stay bound until every port is picked, so the same port is never handed out twice.
    """
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def run_async(coroutine: Any) -> Any:
    """Run a nats-py coroutine from a synchronous test."""
    return asyncio.run(coroutine)


class NatsServer:
    """One nats-server with JetStream, listening on 127.0.0.1.

    The configuration is a file because ``max_payload`` has no command-line flag. ``restart()``
    reuses the port and the store, which is what a server coming back after a crash looks like.
    """

    def __init__(self, tmp_path: Union[str, Path], *, name: str = "n1", max_payload: Optional[int] = None,
                 port: Optional[int] = None, cluster: Optional[Dict[str, Any]] = None) -> None:
        self.binary = require_nats_server()
        self.name = name
        self.directory = Path(tmp_path) / f"nats-{name}"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.store_dir = self.directory / "store"
        self.log_path = self.directory / "server.log"
        self.config_path = self.directory / "server.conf"
        self.max_payload = max_payload
        if port is None:
            port, self.http_port = free_ports(2)
        else:
            (self.http_port,) = free_ports(1)
        self.port = port
        self.cluster = cluster
        self.process: Optional[subprocess.Popen] = None
        self._write_config()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> Optional[int]:
        return None if self.process is None else self.process.pid

    def _write_config(self) -> None:
        # json.dumps quotes strings the way the NATS config parser accepts them.
        lines = [
            f"server_name: {json.dumps(self.name)}",
            f"listen: \"127.0.0.1:{self.port}\"",
            f"http: \"127.0.0.1:{self.http_port}\"",
            f"jetstream {{ store_dir: {json.dumps(str(self.store_dir))} }}",
        ]
        if self.max_payload is not None:
            lines.append(f"max_payload: {int(self.max_payload)}")
        if self.cluster is not None:
            routes = ", ".join(json.dumps(f"nats-route://127.0.0.1:{port}")
                               for port in self.cluster["routes"])
            lines.append("cluster {")
            lines.append(f"  name: {json.dumps(self.cluster['name'])}")
            lines.append(f"  listen: \"127.0.0.1:{self.cluster['port']}\"")
            lines.append(f"  routes: [{routes}]")
            lines.append("}")
        self.config_path.write_text("\n".join(lines) + "\n")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self) -> None:
        """Start the process without waiting for it to answer (a cluster starts its nodes together)."""
        assert not self.running(), f"nats-server {self.name} is already running"
        # The server logs to stderr; both streams go to the log file (appended across restarts).
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([self.binary, "-c", str(self.config_path)], stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _LIVE.add(self.process)

    def start(self, timeout: float = START_TIMEOUT) -> NatsServer:
        """Start the server and wait until its client port and monitoring port answer."""
        self.launch()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"nats-server {self.name} exited ({self.process.returncode}) while "
                                   f"starting; log tail:\n{self.log_tail()}")
            if self._answers():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"nats-server {self.name} did not answer on {self.url} within "
                                   f"{timeout} s; log tail:\n{self.log_tail()}")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                pass
        except OSError:
            return False
        return self.healthz() is not None

    def healthz(self) -> Optional[Dict[str, Any]]:
        """The monitoring endpoint's /healthz answer, or None while it does not answer ok."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1) as answer:
                return json.loads(answer.read())
        except (OSError, ValueError, urllib.error.URLError):
            return None

    def monitor(self, endpoint: str) -> Dict[str, Any]:
        """A monitoring endpoint's JSON (e.g. "connz", "jsz?streams=true")."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/{endpoint}", timeout=5) as answer:
            return json.loads(answer.read())

    def meta_leader(self) -> Optional[str]:
        """The JetStream meta leader this node knows of (None before an election or when down)."""
        if not self.running():
            return None
        try:
            meta = self.monitor("jsz").get("meta_cluster") or {}
        except (OSError, ValueError):
            return None
        return meta.get("leader") or None

    def client_names(self) -> List[str]:
        """The names of the clients connected to this node (nats-py's ``name=``)."""
        if not self.running():
            return []
        try:
            return [conn.get("name", "") for conn in self.monitor("connz").get("connections", [])]
        except (OSError, ValueError):
            return []

    def kill(self) -> None:
        """SIGKILL: the server loses whatever it had not written to its store."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)
        _LIVE.discard(self.process)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM (a clean shutdown), SIGKILL if it takes longer than ``timeout``."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
        _LIVE.discard(self.process)

    def restart(self, timeout: float = START_TIMEOUT) -> NatsServer:
        """Kill (if running) and start again on the same port with the same store."""
        self.kill()
        return self.start(timeout)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> NatsServer:
        if not self.running():
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()


class NatsCluster:
    """``size`` nodes routed to each other on loopback, JetStream clustered (needs a meta leader)."""

    def __init__(self, tmp_path: Union[str, Path], size: int = 3, *, name: str = "fastevlog-test",
                 max_payload: Optional[int] = None) -> None:
        ports = free_ports(2 * size)
        client_ports, route_ports = ports[:size], ports[size:]
        self.nodes = [
            NatsServer(tmp_path, name=f"n{index + 1}", max_payload=max_payload, port=client_ports[index],
                       cluster={"name": name, "port": route_ports[index],
                                "routes": [port for other, port in enumerate(route_ports) if other != index]})
            for index in range(size)
        ]

    @property
    def url_list(self) -> List[str]:
        return [node.url for node in self.nodes]

    @property
    def urls(self) -> str:
        """The nodes' URLs comma-joined, as ``--nats`` takes them."""
        return ",".join(self.url_list)

    def node(self, name: str) -> NatsServer:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def start(self, timeout: float = 30.0) -> NatsCluster:
        for node in self.nodes:
            node.launch()
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            node.wait_ready(max(1.0, deadline - time.monotonic()))
        self.wait_meta_leader(max(1.0, deadline - time.monotonic()))
        return self

    def wait_meta_leader(self, timeout: float = 30.0) -> str:
        """Wait until every running node names the same JetStream meta leader and the JetStream API
        answers through each of them; the leader's name."""
        deadline = time.monotonic() + timeout
        problem = ""
        while time.monotonic() < deadline:
            running = [node for node in self.nodes if node.running()]
            leaders = {node.meta_leader() for node in running}
            if len(leaders) == 1 and None not in leaders:
                try:
                    for node in running:
                        run_async(_account_info(node.url))
                except Exception as error:  # noqa: BLE001 - "not yet": retried until the deadline
                    problem = repr(error)
                else:
                    return leaders.pop()
            else:
                problem = f"meta leaders named: {sorted(map(str, leaders))}"
            time.sleep(0.25)
        tails = "\n".join(f"--- {node.name}:\n{node.log_tail(15)}" for node in self.nodes)
        raise RuntimeError(f"the cluster elected no JetStream meta leader within {timeout} s "
                           f"({problem})\n{tails}")

    def stream_leader(self, stream: str) -> NatsServer:
        """The node leading ``stream``'s replicas (asked through any running node)."""
        last: Optional[BaseException] = None
        for node in self.nodes:
            if not node.running():
                continue
            try:
                info = run_async(stream_info(node.url, stream))
            except Exception as error:  # noqa: BLE001 - try the next node
                last = error
                continue
            if info.cluster is not None and info.cluster.leader:
                return self.node(info.cluster.leader)
        raise RuntimeError(f"no node names a leader for stream {stream} ({last!r})")

    def node_serving(self, client_name: str) -> Optional[NatsServer]:
        """The running node a client named ``client_name`` (nats-py's name=, a substring) is connected to."""
        for node in self.nodes:
            if any(client_name in name for name in node.client_names()):
                return node
        return None

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.kill()


async def _account_info(url: str) -> Any:
    nc = await _connect(url)
    try:
        return await nc.jetstream(timeout=2).account_info()
    finally:
        await nc.close()


async def _connect(servers: Union[str, Sequence[str]], **options: Any) -> Any:
    import nats

    if isinstance(servers, str):
        servers = servers.split(",")
    # No reconnect loop for a helper: a dead server fails the call at once and the caller retries.
    return await nats.connect(servers=list(servers), connect_timeout=2, allow_reconnect=False,
                              max_reconnect_attempts=0, **options)


async def stream_info(url: Union[str, Sequence[str]], stream: str) -> Any:
    nc = await _connect(url)
    try:
        return await nc.jetstream(timeout=5).stream_info(stream)
    finally:
        await nc.close()


async def consumer_info(url: Union[str, Sequence[str]], stream: str, durable: str) -> Any:
    nc = await _connect(url)
    try:
        return await nc.jetstream(timeout=5).consumer_info(stream, durable)
    finally:
        await nc.close()


def publish_messages(url: Union[str, Sequence[str]], subject: str,
                     messages: Sequence[Tuple[Optional[Dict[str, str]], bytes]]) -> None:
    """Publish (headers, payload) pairs on subject through JetStream, one at a time, each acked."""

    async def publish() -> None:
        nc = await _connect(url)
        try:
            js = nc.jetstream(timeout=5)
            for headers, payload in messages:
                await js.publish(subject, payload, headers=headers)
        finally:
            await nc.close()

    run_async(publish())


def stream_messages(url: Union[str, Sequence[str]], stream: str) -> int:
    """How many messages ``stream`` holds now."""
    return int(run_async(stream_info(url, stream)).state.messages)


def make_stream(url: Union[str, Sequence[str]], name: str = "FASTEVLOG",
                subjects: Sequence[str] = ("fastevlog.events",), *, duplicate_window: Optional[float] = None,
                replicas: int = 1, max_bytes: Optional[int] = None, timeout: float = 30.0) -> Any:
    """Create a file-backed stream (retried while a cluster is still electing leaders); its StreamInfo."""

    async def create() -> Any:
        from nats.js.api import StorageType, StreamConfig

        config = StreamConfig(name=name, subjects=list(subjects), storage=StorageType.FILE,
                              num_replicas=replicas, duplicate_window=duplicate_window,
                              max_bytes=max_bytes)
        nc = await _connect(url)
        try:
            return await nc.jetstream(timeout=5).add_stream(config)
        finally:
            await nc.close()

    deadline = time.monotonic() + timeout
    while True:
        try:
            return run_async(create())
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


# -- the mirror a collector writes: DIR/{host}/{file} byte-identical to each source file --


def _first_difference(left: bytes, right: bytes) -> int:
    size = min(len(left), len(right))
    step = 1 << 16
    for start in range(0, size, step):
        if left[start:start + step] != right[start:start + step]:
            for offset in range(start, min(start + step, size)):
                if left[offset] != right[offset]:
                    return offset
    return size


def mirror_differences(source_dir: Union[str, Path], mirror_dir: Union[str, Path]) -> List[str]:
    """What differs between the *.log files of ``source_dir`` and those of ``mirror_dir`` (one host's
    mirror, DIR/{host}); empty when they are byte-identical, file for file (empty sources aside)."""
    source_dir, mirror_dir = Path(source_dir), Path(mirror_dir)
    # An empty source file (a logger killed right after opening it) has no chunk to send: no mirror.
    sources = {path.name: path for path in source_dir.glob("*.log") if path.stat().st_size > 0}
    mirrors = {path.name: path for path in mirror_dir.glob("*.log")} if mirror_dir.is_dir() else {}
    problems = []
    for name in sorted(set(sources) - set(mirrors)):
        size = sources[name].stat().st_size
        problems.append(f"{name}: missing from the mirror ({size} bytes in the source)")
    for name in sorted(set(mirrors) - set(sources)):
        problems.append(f"{name}: in the mirror only ({mirrors[name].stat().st_size} bytes)")
    for name in sorted(set(sources) & set(mirrors)):
        source, mirror = sources[name].read_bytes(), mirrors[name].read_bytes()
        if source != mirror:
            offset = _first_difference(source, mirror)
            problems.append(f"{name}: source {len(source)} bytes, mirror {len(mirror)} bytes, first "
                            f"difference at offset {offset}: source {source[offset:offset + 40]!r} mirror "
                            f"{mirror[offset:offset + 40]!r}")
    return problems


def assert_mirror_equals(source_dir: Union[str, Path], mirror_dir: Union[str, Path]) -> None:
    """Fail with which file differs, its sizes and its first differing offset, unless the mirror holds
    exactly the source's *.log files, byte for byte."""
    problems = mirror_differences(source_dir, mirror_dir)
    assert not problems, "the mirror differs from the source:\n" + "\n".join(problems[:20])


def wait_until(condition: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``condition()`` until it is truthy (returns its value) or ``timeout`` s pass
    (AssertionError naming ``what``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
