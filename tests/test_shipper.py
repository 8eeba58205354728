"""The shipper against a real nats-server: what it publishes, how it cuts chunks, and how it stops.

The end-to-end cases (kills, outages, a cluster, a collector's mirror) are in test_shipping_nats.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from nats_servers import NatsServer, make_stream, require_nats_server, run_async, wait_until
from support import child_env

from fastevlog import EventLogCounter, NatsShipper
from fastevlog._directory import LogDirectory
from fastevlog._nats import HEADROOM, parse_chunk
from fastevlog._ship_cursor import cursor_name
from fastevlog._shipper import Shipper, _chunk_end

pytest.importorskip("nats")

NAME = "app_20261204_101010.log"
SMALL_PAYLOAD = 64 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_nats_server()
    with NatsServer(tmp_path_factory.mktemp("nats"), max_payload=SMALL_PAYLOAD) as started:
        yield started


_streams = iter(range(10**6))


@pytest.fixture
def stream(server):
    """A stream of this test's own on the module's server; its name."""
    name = f"T{next(_streams)}"
    make_stream(server.url, name, [f"t.{name}"])
    return name


def _config(server, stream, **options):
    return NatsShipper(server.url, stream=stream, subject=f"t.{stream}", host="h1", **options)


async def _messages(url, stream):
    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        last = (await js.stream_info(stream)).state.last_seq
        found = []
        for seq in range(1, last + 1):
            message = await js.get_msg(stream, seq)
            found.append((message.headers, message.data))
        return found
    finally:
        await nc.close()


def chunks(server, stream):
    """[(headers, payload)] of every message in the stream, in order."""
    return run_async(_messages(server.url, stream))


def reassembled(server, stream):
    """{file: bytes} put together from the stream's chunks at their offsets (overlaps must agree)."""
    files = {}
    for headers, payload in chunks(server, stream):
        source = parse_chunk(headers, payload)
        data = files.setdefault(source.file, bytearray())
        end = source.start + len(payload)
        if len(data) < end:
            data.extend(b"\0" * (end - len(data)))
        before = bytes(data[source.start:end])
        assert before.strip(b"\0") == b"" or before == payload, f"{source}: a chunk disagrees with another"
        data[source.start:end] = payload
    return {name: bytes(data) for name, data in files.items()}


def ship_once(server, stream, directory, **options):
    """Ship directory until nothing is left for 0.3 s; the shipper (its report)."""
    opened = LogDirectory(str(directory), 0o640)
    try:
        shipper = Shipper(_config(server, stream, **options), opened)
        shipper.run(until_idle=0.3)
        return shipper
    finally:
        opened.close()


def lines(count, width=50, start=0):
    return b"".join(b'{"n":%d,"pad":"%s"}\n' % (start + i, b"x" * width) for i in range(count))


class TestParameters:
    @pytest.mark.parametrize(("options", "error", "name"), [
        ({"servers": 4222}, TypeError, "servers"),
        ({"servers": ""}, ValueError, "servers"),
        ({"servers": "127.0.0.1:4222"}, ValueError, "servers"),
        ({"servers": "nats://a:1,"}, ValueError, "servers"),
        ({"stream": 1}, TypeError, "stream"),
        ({"stream": "a.b"}, ValueError, "stream"),
        ({"stream": ""}, ValueError, "stream"),
        ({"subject": "a.*"}, ValueError, "subject"),
        ({"subject": "a..b"}, ValueError, "subject"),
        ({"subject": 5}, TypeError, "subject"),
        ({"host": "a/b"}, ValueError, "host"),
        ({"host": ".."}, ValueError, "host"),
        ({"host": 5}, TypeError, "host"),
        ({"stop_timeout": -1}, ValueError, "stop_timeout"),
        ({"stop_timeout": "5"}, TypeError, "stop_timeout"),
        ({"replicas": 0}, ValueError, "replicas"),
        ({"duplicate_window": 0}, ValueError, "duplicate_window"),
        ({"max_bytes": 0}, ValueError, "max_bytes"),
        ({"max_age": float("nan")}, ValueError, "max_age"),
    ])
    def test_refused_naming_the_parameter(self, options, error, name):
        with pytest.raises(error, match=name):
            NatsShipper(**options)

    def test_comma_separated_servers_are_split(self):
        """nats-py takes one URL per list item: a comma-separated string is split here."""
        assert NatsShipper("nats://a:1, nats://b:2").servers == ["nats://a:1", "nats://b:2"]

    def test_host_defaults_to_a_safe_host_name(self):
        assert NatsShipper().host


class TestChunks:
    def test_whole_lines_only(self):
        assert _chunk_end(b"a\nbc\nde", 100) == 5
        assert _chunk_end(b"abc", 100) == 0  # an unfinished line waits

    def test_a_nul_ends_what_is_written(self):
        assert _chunk_end(b"a\nb\n\0\0c\n", 100) == 4
        assert _chunk_end(b"a\0b\n", 100) == 0

    def test_a_line_longer_than_a_chunk_goes_in_parts(self):
        assert _chunk_end(b"x" * 100, 100) == 100
        assert _chunk_end(b"x" * 99 + b"\0", 100) == 0


class TestShipping:
    def test_a_directory_is_shipped_whole(self, server, stream, tmp_path):
        """Every byte of every plain log file reaches the stream once, as whole lines, with its metrics."""
        sources = {NAME: lines(3000), "other_20261204_101011.log": lines(5)}
        for name, data in sources.items():
            (tmp_path / name).write_bytes(data)
        (tmp_path / "notes.txt").write_bytes(b"not a log file\n")
        shipper = ship_once(server, stream, tmp_path)
        assert reassembled(server, stream) == sources
        for _, payload in chunks(server, stream):
            assert payload.endswith(b"\n")
            assert len(payload) <= SMALL_PAYLOAD - HEADROOM
        report = shipper.report
        assert report.shipped_bytes == sum(map(len, sources.values()))
        assert report.shipped_events == 3005
        assert report.ship_lag_bytes == 0
        assert json.loads((tmp_path / cursor_name(stream)).read_text())["files"] == {
            name: len(data) for name, data in sources.items()}

    def test_nothing_past_a_nul_is_shipped_until_written(self, server, stream, tmp_path):
        """A range the writers have not filled yet stops the shipper; once filled, the rest goes."""
        head, hole, tail = lines(100), lines(10, start=100), lines(100, start=110)
        path = tmp_path / NAME
        path.write_bytes(head + b"\0" * len(hole) + tail)
        first = ship_once(server, stream, tmp_path)
        assert reassembled(server, stream) == {NAME: head}
        assert first.report.ship_lag_bytes == len(hole) + len(tail)
        with open(path, "r+b") as file:
            file.seek(len(head))
            file.write(hole)
        ship_once(server, stream, tmp_path)
        assert reassembled(server, stream) == {NAME: head + hole + tail}
        assert all(b"\0" not in payload for _, payload in chunks(server, stream))

    def test_an_unfinished_last_line_waits(self, server, stream, tmp_path):
        path = tmp_path / NAME
        path.write_bytes(lines(10) + b'{"half":')
        ship_once(server, stream, tmp_path)
        assert reassembled(server, stream) == {NAME: lines(10)}
        with open(path, "ab") as file:
            file.write(b'1}\n')
        ship_once(server, stream, tmp_path)
        assert reassembled(server, stream) == {NAME: lines(10) + b'{"half":1}\n'}

    def test_a_line_longer_than_max_payload_goes_in_parts(self, server, stream, tmp_path):
        """Headers count toward max_payload: no message with them is over it (the server would close us)."""
        long_line = b'{"big":"' + b"y" * (3 * SMALL_PAYLOAD) + b'"}\n'
        data = lines(5) + long_line + lines(5, start=5)
        (tmp_path / NAME).write_bytes(data)
        shipper = ship_once(server, stream, tmp_path)
        assert reassembled(server, stream) == {NAME: data}
        assert shipper.report.ship_reconnects == 0
        for headers, payload in chunks(server, stream):
            size = len(payload) + sum(len(key) + len(value) + 4 for key, value in headers.items()) + 12
            assert size <= SMALL_PAYLOAD
        assert shipper.report.shipped_events == 11

    def test_a_replay_republishes_the_same_ids(self, server, stream, tmp_path):
        """Without its cursor the shipper sends each chunk again under the same id: the server drops them."""
        (tmp_path / NAME).write_bytes(lines(2000))
        ship_once(server, stream, tmp_path)
        before = chunks(server, stream)
        os.unlink(tmp_path / cursor_name(stream))
        ship_once(server, stream, tmp_path)
        assert chunks(server, stream) == before

    def test_compressed_files_are_not_shipped(self, server, stream, tmp_path):
        (tmp_path / (NAME + ".gz")).write_bytes(b"\x1f\x8b junk")
        (tmp_path / "app_20261204_101011.log").write_bytes(lines(3))
        ship_once(server, stream, tmp_path)
        assert set(reassembled(server, stream)) == {"app_20261204_101011.log"}

    def test_a_missing_stream_is_created(self, server, tmp_path):
        (tmp_path / NAME).write_bytes(lines(10))
        ship_once(server, "NEW", tmp_path, max_age=3600.0)
        assert reassembled(server, "NEW") == {NAME: lines(10)}


class TestOneShipperAtATime:
    def test_the_second_stands_by_then_takes_over(self, server, stream, tmp_path):
        """Two shippers on one directory: one ships; when it ends the other goes on from its cursor."""
        path = tmp_path / NAME
        path.write_bytes(lines(100))
        opened = LogDirectory(str(tmp_path), 0o640)
        first, second = (Shipper(_config(server, stream), opened) for _ in range(2))
        first.start()
        wait_until(lambda: first.report.shipped_bytes == len(lines(100)), 30, "the first shipper")
        second.start()
        with open(path, "ab") as file:
            file.write(lines(50, start=100))
        wait_until(lambda: first.report.shipped_bytes == len(lines(150)), 30, "the first shipper again")
        wait_until(lambda: second.report.ship_lag_bytes == 0, 30, "the standby's lag from the cursor")
        assert second.report.shipped_bytes == 0
        first.stop(timeout=5)
        with open(path, "ab") as file:
            file.write(lines(20, start=150))
        wait_until(lambda: second.report.shipped_bytes == len(lines(20, start=150)), 30, "the takeover")
        second.stop(timeout=5)
        opened.close()
        assert reassembled(server, stream) == {NAME: lines(170)}


class TestWithALogger:
    def test_shipped_while_logging(self, server, stream, tmp_path):
        """A logger's own thread ships its files; stop() leaves nothing unshipped when the server is up."""
        config = _config(server, stream)
        with EventLogCounter(directory=tmp_path, ship_to=config, max_file_size=200_000) as logger:
            threads = [threading.Thread(target=lambda: [logger.info("e", "m", i=i) for i in range(5000)])
                       for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        metrics = logger.metrics()
        sources = {path.name: path.read_bytes() for path in tmp_path.glob("*.log")}
        assert len(sources) > 1
        assert reassembled(server, stream) == sources
        assert metrics["shipped_events"] == metrics["events_written"] == 20000
        assert metrics["shipped_bytes"] == metrics["bytes_written"]
        assert metrics["ship_lag_bytes"] == 0

    def test_no_shipper_reports_zeros(self, tmp_path):
        with EventLogCounter(directory=tmp_path) as logger:
            logger.info("e", "m")
        metrics = logger.metrics()
        assert [metrics[key] for key in ("shipped_bytes", "shipped_events", "ship_publish_retries",
                                         "ship_lag_bytes", "ship_reconnects")] == [0] * 5

    def test_servers_down_neither_block_logging_nor_stop(self, tmp_path):
        """With no server, log() goes on, stop() waits stop_timeout at most, and retention keeps the files."""
        port = _closed_port()
        config = NatsShipper(f"nats://127.0.0.1:{port}", host="h1", stop_timeout=0.5)
        logger = EventLogCounter(directory=tmp_path, ship_to=config, max_file_size=10_000, keep_files=0)
        for i in range(5000):
            logger.info("e", "m", i=i)
        logger.stop()
        assert not logger._shipper._thread.is_alive()  # stop() ended it, after its stop_timeout
        assert logger.metrics()["events_written"] == 5000
        files = list(tmp_path.glob("*.log"))
        assert len(files) > 5
        assert sum(path.stat().st_size for path in files) == logger.metrics()["bytes_written"]


def _closed_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TestShipCommand:
    def _run(self, *args):
        # In a directory of its own: from the repository root, `python -m` would find the uncompiled source.
        cwd = tempfile.mkdtemp()
        try:
            return subprocess.run([sys.executable, "-m", "fastevlog", "ship", *args], capture_output=True,
                                  text=True, timeout=60, cwd=cwd, env=child_env())
        finally:
            os.rmdir(cwd)

    @pytest.mark.parametrize(("flags", "named"), [
        (["--nats", "localhost:4222"], "--nats"),
        (["--nats", "nats://a:1", "--stream", "a.b"], "--stream"),
        (["--nats", "nats://a:1", "--subject", "a.>"], "--subject"),
        (["--nats", "nats://a:1", "--host", "a/b"], "--host"),
        (["--nats", "nats://a:1", "--until-idle", "-1"], "--until-idle"),
    ])
    def test_bad_flags_are_named(self, tmp_path, flags, named):
        done = self._run(str(tmp_path), *flags)
        assert done.returncode == 2
        assert named in done.stderr

    def test_a_missing_directory_fails(self, tmp_path):
        done = self._run(str(tmp_path / "nope"), "--nats", "nats://127.0.0.1:1")
        assert done.returncode == 1
        assert "is not a directory" in done.stderr

    def test_until_idle(self, server, stream, tmp_path):
        (tmp_path / NAME).write_bytes(lines(1000))
        done = self._run(str(tmp_path), "--nats", server.url, "--stream", stream, "--subject", f"t.{stream}",
                         "--host", "h1", "--until-idle", "0.3")
        assert done.returncode == 0, done.stderr
        assert "shipped 1,000 lines" in done.stdout
        assert reassembled(server, stream) == {NAME: lines(1000)}

    def test_sigterm_saves_the_cursor(self, tmp_path):
        """Stopped while no server answers: exits 0 at once, nothing shipped, the files untouched."""
        (tmp_path / NAME).write_bytes(lines(10))
        process = subprocess.Popen([sys.executable, "-m", "fastevlog", "ship", str(tmp_path), "--nats",
                                    f"nats://127.0.0.1:{_closed_port()}"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=child_env())
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert "shipped 0 lines" in out
        assert (tmp_path / NAME).read_bytes() == lines(10)


class TestTheShipperGoesOn:
    def test_a_stream_deleted_meanwhile_is_made_again(self, server, tmp_path):
        """Deleted under a running shipper, the stream is created again and the rest ships into it."""
        path = tmp_path / NAME
        path.write_bytes(lines(100))
        opened = LogDirectory(str(tmp_path), 0o640)
        shipper = Shipper(_config(server, "GONE"), opened)
        shipper.start()
        try:
            wait_until(lambda: shipper.report.shipped_bytes == len(lines(100)), 30, "the first lines")
            run_async(_delete(server.url, "GONE"))
            with open(path, "ab") as file:
                file.write(lines(10, start=100))
            wait_until(lambda: shipper.report.shipped_bytes == len(lines(110)), 60, "the lines after")
        finally:
            shipper.stop(timeout=5)
            opened.close()
        [(headers, payload)] = chunks(server, "GONE")  # the new stream holds what came after
        assert payload == lines(10, start=100)
        assert parse_chunk(headers, payload).start == len(lines(100))

    def test_an_unexpected_error_is_logged_and_shipping_goes_on(self, server, stream, tmp_path, caplog,
                                                                monkeypatch):
        (tmp_path / NAME).write_bytes(lines(10))
        opened = LogDirectory(str(tmp_path), 0o640)
        shipper = Shipper(_config(server, stream), opened)
        real_ship_file, failures = shipper._ship_file, []

        async def failing_once(*args):
            if not failures:
                failures.append(1)
                raise RuntimeError("injected")
            return await real_ship_file(*args)

        monkeypatch.setattr(shipper, "_ship_file", failing_once)
        monkeypatch.setattr("fastevlog._shipper.FAILED_RETRY", 0.1)
        shipper.start()
        try:
            wait_until(lambda: shipper.report.shipped_bytes == len(lines(10)), 30, "shipping after the error")
        finally:
            shipper.stop(timeout=5)
            opened.close()
        assert "the shipper failed (RuntimeError: injected)" in caplog.text
        assert reassembled(server, stream) == {NAME: lines(10)}


async def _delete(url, stream):
    import nats

    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


def test_a_max_payload_too_small_is_said(tmp_path, caplog):
    """A server whose max_payload leaves no room for a chunk's headers: a warning, and nothing sent."""
    require_nats_server()
    with NatsServer(tmp_path / "nats", max_payload=HEADROOM) as tiny:
        make_stream(tiny.url, "TINY", ["t.TINY"])
        (tmp_path / "logs").mkdir()
        (tmp_path / "logs" / NAME).write_bytes(lines(10))
        shipper = ship_once(tiny, "TINY", tmp_path / "logs")
    assert shipper.report.shipped_bytes == 0
    assert shipper.report.ship_lag_bytes == len(lines(10))
    assert "leaves no room for a chunk" in caplog.text


def test_ship_to_without_nats_py_names_the_extra(tmp_path, monkeypatch):
    """Without nats-py, ship_to is refused at once with what to install, and nothing is created."""
    monkeypatch.setitem(sys.modules, "nats", None)  # import nats raises ModuleNotFoundError
    with pytest.raises(ImportError, match=r"fastevlog\[nats\]"):
        EventLogCounter(directory=tmp_path / "logs", ship_to=NatsShipper(host="h1"))
    assert not (tmp_path / "logs").exists()
