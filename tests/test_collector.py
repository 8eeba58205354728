"""The collector (fastevlog._collector) against a real nats-server: chunks published here by nats-py
with the wire format's headers land at their offsets in DIR/{host}/{file}, are acked only once
written, and nothing a message says can write outside DIR or through a planted symlink."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest
from nats_servers import NatsServer, make_stream, publish_messages, require_nats_server, wait_until
from support import mounted_tmpfs

from fastevlog import _collector, _nats
from fastevlog._collector import Collector

SUBJECT = "fastevlog.events"
HOST = "web-1"
FILE = "app_20261204_160000.log"
OTHER = "app_20261204_170000_000001.log"

Message = Tuple[Optional[Dict[str, str]], bytes]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[NatsServer]:
    """One server for the module's tests; each test has a stream of its own (the stream fixture)."""
    require_nats_server()
    with NatsServer(tmp_path_factory.mktemp("nats")) as running:
        yield running


@pytest.fixture
def stream(server, request) -> str:
    name = "T" + "".join(c for c in request.node.name if c.isalnum())[:40]
    make_stream(server.url, name, [f"{name}.events"])
    return name


@pytest.fixture(autouse=True)
def _umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def chunk(host: str, file: str, start: int, payload: bytes) -> Message:
    return _nats.chunk_headers(host, file, start, start + len(payload)), payload


def chunks_of(data: bytes, size: int, host: str = HOST, file: str = FILE) -> List[Message]:
    """data cut into chunks of size bytes, each with its own headers."""
    return [chunk(host, file, start, data[start:start + size]) for start in range(0, len(data), size)]


def lines(count: int, tag: str = "") -> bytes:
    return b"".join(b'{"n": %d, "tag": "%s"}\n' % (n, tag.encode()) for n in range(count))


def publish(server: NatsServer, stream: str, messages: Sequence[Message]) -> None:
    publish_messages(server.url, f"{stream}.events", messages)


async def _consumer(url: str, stream: str, durable: str) -> Any:
    import nats

    nc = await nats.connect(url, connect_timeout=2)
    try:
        return await nc.jetstream(timeout=5).consumer_info(stream, durable)
    finally:
        await nc.close()


def consumer(server: NatsServer, stream: str, durable: str = "fastevlog-collect") -> Any:
    return asyncio.run(_consumer(server.url, stream, durable))


# Every run ends by itself: a broken collector that never goes idle is stopped (and the test fails).
RUN_LIMIT = 30.0


def limited(stopping: Callable[[], bool] = lambda: False) -> Callable[[], bool]:
    deadline = time.monotonic() + RUN_LIMIT
    return lambda: stopping() or time.monotonic() > deadline


def collect(server: NatsServer, stream: str, directory: Path, until_idle: float = 0.5, **options: Any
            ) -> Collector:
    collector = Collector(server.url, stream, str(directory), **options)
    collector.run(stopping=limited(), until_idle=until_idle)
    return collector


@contextlib.contextmanager
def collecting(collector: Collector, until_idle: Optional[float] = None) -> Iterator[threading.Event]:
    """collector.run() on a thread while inside; set the event yielded to stop it (set at exit)."""
    stop = threading.Event()
    failures: List[BaseException] = []

    def run() -> None:
        try:
            collector.run(stopping=limited(stop.is_set), until_idle=until_idle)
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=run, name="collector")
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive(), "the collector did not stop"
    assert not failures, failures


def tree(directory: Path) -> Dict[str, bytes]:
    """Every file under directory (symlinks not followed) by relative path: its bytes."""
    found = {}
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = Path(root, name)
            found[str(path.relative_to(directory))] = b"<symlink>" if path.is_symlink() else path.read_bytes()
    return found


def test_chunks_land_at_their_offsets_and_are_acked(server, stream, tmp_path):
    """Chunks out of order, a duplicate, two hosts and files: the mirror is the source, every message
    acked; files 0o640, host directories 0o750; the consumer is created as the contract says."""
    first, second, third = lines(300, "a"), lines(120, "b"), lines(50, "c")
    messages = chunks_of(first, 700)[::-1] + chunks_of(second, 999, file=OTHER) \
        + chunks_of(third, 64, host="db.2")
    duplicate = chunks_of(first, 700)[3]
    duplicate = ({**duplicate[0], "Nats-Msg-Id": "replayed after the duplicate window"}, duplicate[1])
    publish(server, stream, messages + [duplicate])
    mirror = tmp_path / "mirror"
    collector = collect(server, stream, mirror, ack_wait=12.5, batch=16)
    assert tree(mirror) == {f"{HOST}/{FILE}": first, f"{HOST}/{OTHER}": second, f"db.2/{FILE}": third}
    report = collector.report
    assert (report.messages, report.rejected, report.write_failures) == (len(messages) + 1, 0, 0)
    assert report.bytes == len(first) + len(second) + len(third) + len(duplicate[1])
    assert stat.S_IMODE((mirror / HOST / FILE).stat().st_mode) == 0o640
    assert stat.S_IMODE((mirror / HOST).stat().st_mode) == 0o750
    info = consumer(server, stream)
    assert (info.num_pending, info.num_ack_pending, info.num_redelivered) == (0, 0, 0)
    assert info.config.ack_wait == 12.5 and info.config.max_ack_pending == _collector.MAX_ACK_PENDING
    assert (info.config.ack_policy, info.config.deliver_policy) == ("explicit", "all")


def test_an_existing_consumer_is_used_as_it_is(server, stream, tmp_path):
    """A consumer made beforehand (another ack_wait, a durable name of the user's) is kept, not
    replaced: collectors started with other flags share it."""
    async def create() -> None:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig

        nc = await nats.connect(server.url)
        try:
            await nc.jetstream().add_consumer(stream, ConsumerConfig(
                durable_name="mine", ack_policy=AckPolicy.EXPLICIT, ack_wait=7, max_ack_pending=10))
        finally:
            await nc.close()

    asyncio.run(create())
    data = lines(40)
    publish(server, stream, chunks_of(data, 100))
    collect(server, stream, tmp_path / "m", durable="mine", ack_wait=30)
    assert (tmp_path / "m" / HOST / FILE).read_bytes() == data
    info = consumer(server, stream, "mine")
    assert (info.config.ack_wait, info.config.max_ack_pending, info.num_ack_pending) == (7, 10, 0)


def _with(message: Message, **changes: Optional[str]) -> Message:
    headers = dict(message[0] or {})
    for key, value in changes.items():
        header = {"host": "Fastevlog-Host", "file": "Fastevlog-File", "offset": "Fastevlog-Offset"}[key]
        if value is None:
            headers.pop(header)
        else:
            headers[header] = value
    return headers, message[1]


def test_invalid_messages_are_rejected_and_never_written(server, stream, tmp_path, caplog):
    """Whatever a message's headers say, nothing is written outside DIR/{host}/{*.log}; each invalid
    message is logged, counted, and terminated (the server never redelivers it)."""
    caplog.set_level(logging.ERROR, logger="fastevlog")
    good = chunk(HOST, FILE, 0, b"line\n")
    bad: List[Message] = [
        (None, b"no headers\n"),
        _with(good, offset=None), _with(good, host=None), _with(good, file=None),
        _with(good, host=".."), _with(good, host="."), _with(good, host="a/b"), _with(good, host=""),
        _with(good, host="x" * 129), _with(good, host="h\nX"),
        _with(good, file="passwd"), _with(good, file="../app_20261204_160000.log"),
        _with(good, file="a/app_20261204_160000.log"), _with(good, file="app_20261204_160000.log.gz"),
        _with(good, offset="-1"), _with(good, offset="1e3"), _with(good, offset="12a"),
        _with(good, offset=""), _with(good, offset="+5"), _with(good, offset="\u0665"),
        _with(good, offset=str(2 ** 48)),
        _with(good, offset="9" * 40),
        chunk(HOST, FILE, 10, b"nul \0 inside\n"),
        chunk(HOST, OTHER, 0, b""),
        # What the server's notices look like to nats-py's fetch: a delivery all the same here.
        ({"Status": "503", "Description": "No Responders"}, b"status-like\n"),
    ]
    # A valid chunk that also has a "Status" header: written like any other.
    status_too = ({**chunk(HOST, OTHER, 0, b"408\n")[0], "Status": "408"}, b"408\n")
    # Ids of their own: the server's duplicate window would drop copies of good's id unseen.
    bad = [({**headers, "Nats-Msg-Id": f"bad-{n}"} if headers else headers, payload)
           for n, (headers, payload) in enumerate(bad)]
    publish(server, stream, bad + [good, status_too])
    outside = tmp_path / "outside"
    outside.mkdir()
    mirror = tmp_path / "mirror"
    collector = collect(server, stream, mirror)
    assert tree(mirror) == {f"{HOST}/{FILE}": b"line\n", f"{HOST}/{OTHER}": b"408\n"}
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mirror", "outside"]
    assert (collector.report.rejected, collector.report.messages) == (len(bad), 2)
    rejections = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert len(rejections) == len(bad)
    assert any("Fastevlog-Host '..'" in r.getMessage() for r in rejections)
    info = consumer(server, stream)
    assert (info.num_pending, info.num_ack_pending) == (0, 0)


def test_planted_symlinks_are_not_written_through(server, stream, tmp_path, caplog):
    """A symlink at DIR/{host} or DIR/{host}/{file} (and a FIFO) is never written through: ERROR,
    not acked, redelivered; once removed, the chunks land."""
    caplog.set_level(logging.ERROR, logger="fastevlog")
    mirror, outside = tmp_path / "mirror", tmp_path / "outside"
    outside.mkdir()
    (outside / "target.log").write_bytes(b"untouched")
    mirror.mkdir()
    (mirror / "evil").symlink_to(outside)  # the host directory
    (mirror / HOST).mkdir()
    (mirror / HOST / FILE).symlink_to(outside / "target.log")  # the file
    (mirror / HOST / OTHER).symlink_to(outside / "dangling.log")
    os.mkfifo(mirror / HOST / "app_20261204_180000.log")
    messages = [chunk("evil", FILE, 0, b"a\n"), chunk(HOST, FILE, 0, b"b\n"), chunk(HOST, OTHER, 0, b"c\n"),
                chunk(HOST, "app_20261204_180000.log", 0, b"d\n")]
    publish(server, stream, messages)
    collector = collect(server, stream, mirror, until_idle=0.5)
    assert sorted(p.name for p in outside.iterdir()) == ["target.log"]
    assert (outside / "target.log").read_bytes() == b"untouched"
    assert collector.report.messages == 0 and collector.report.write_failures >= 4
    said = "\n".join(r.getMessage() for r in caplog.records)
    assert "not written through" in said and "evil" in said and OTHER in said
    assert consumer(server, stream).num_pending == 0  # delivered, not acked: waiting for redelivery

    for planted in ("evil", f"{HOST}/{FILE}", f"{HOST}/{OTHER}", f"{HOST}/app_20261204_180000.log"):
        os.unlink(mirror / planted)
    collector = Collector(server.url, stream, str(mirror))
    with collecting(collector):
        wait_until(lambda: collector.report.messages == 4, 20, "the redelivered chunks")
    assert tree(mirror) == {f"evil/{FILE}": b"a\n", f"{HOST}/{FILE}": b"b\n", f"{HOST}/{OTHER}": b"c\n",
                            f"{HOST}/app_20261204_180000.log": b"d\n"}
    assert (outside / "target.log").read_bytes() == b"untouched"
    assert consumer(server, stream).num_ack_pending == 0


def test_a_full_disk_leaves_chunks_unacked_until_written(server, stream, tmp_path, caplog):
    """ENOSPC on a real (tmpfs) disk: the chunks that did not fit are not acked, an ERROR says so, and
    they are written once space returns; nothing was acked before it was written."""
    caplog.set_level(logging.ERROR, logger="fastevlog")
    with mounted_tmpfs(tmp_path / "disk", "size=256k") as disk:
        filler = disk / "filler"
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        filler.write_bytes(b"x" * (free - 64 * 1024))
        data = lines(5000)  # about 114 KB: does not fit
        assert len(data) > 96 * 1024
        publish(server, stream, chunks_of(data, 8000))
        # ack_wait 5 s: a redelivery nats-server 2.9.10 loses (see NAK_DELAY) comes back within the test.
        collector = Collector(server.url, stream, str(disk / "mirror"), batch=4, ack_wait=5)
        with collecting(collector):
            wait_until(lambda: collector.report.write_failures > 0, 20, "a failed write")
            assert consumer(server, stream).num_ack_pending > 0
            written = collector.report.messages
            assert 0 < written < len(chunks_of(data, 8000))
            # What was acked is on disk: the mirror holds at least the acked bytes, as they were.
            assert (disk / "mirror" / HOST / FILE).read_bytes()[:written * 8000] == data[:written * 8000]
            filler.unlink()
            wait_until(lambda: (disk / "mirror" / HOST / FILE).read_bytes() == data, 20, "the whole file")
            wait_until(lambda: consumer(server, stream).num_ack_pending == 0, 30, "every ack")
    assert any("No space left on device" in r.getMessage() and "not acked" in r.getMessage()
               for r in caplog.records)


def test_an_offset_beyond_the_file_systems_largest_file_is_rejected(server, stream, tmp_path, caplog):
    """A valid offset no retry can write (EFBIG: ext4 holds files up to 16 TiB) is rejected, not
    retried forever; the chunks beside it are written."""
    probe = tmp_path / "probe"
    with open(probe, "wb") as file:
        try:
            os.pwrite(file.fileno(), b"x", 2 ** 48 - 10)
        except OSError:
            pass
        else:
            pytest.skip("this file system holds files of 256 TiB")
    caplog.set_level(logging.ERROR, logger="fastevlog")
    publish(server, stream, [chunk(HOST, FILE, 2 ** 48 - 10, b"far\n"), chunk(HOST, FILE, 0, b"near\n")])
    collector = collect(server, stream, tmp_path / "m")
    assert (collector.report.rejected, collector.report.messages) == (1, 1)
    assert (tmp_path / "m" / HOST / FILE).read_bytes() == b"near\n"
    assert any("largest file" in r.getMessage() for r in caplog.records)
    info = consumer(server, stream)
    assert (info.num_pending, info.num_ack_pending) == (0, 0)


def test_two_collectors_share_the_consumer(server, stream, tmp_path):
    """Two collectors on one durable consumer and one DIR: each message written by whoever got it,
    all of them acked, the mirror whole."""
    data = {FILE: lines(2000, "x"), OTHER: lines(1500, "y")}
    messages = [m for name, body in data.items() for m in chunks_of(body, 1000, file=name)]
    collectors = [Collector(server.url, stream, str(tmp_path / "m"), batch=4) for _ in range(2)]
    def waiting() -> int:
        try:
            return consumer(server, stream).num_waiting
        except Exception:  # not created yet
            return 0

    with collecting(collectors[0]), collecting(collectors[1]):
        wait_until(lambda: waiting() >= 2, 20, "both collectors' pull requests")
        publish(server, stream, messages)
        wait_until(lambda: sum(c.report.messages for c in collectors) >= len(messages), 30, "every chunk")
    assert sum(c.report.messages for c in collectors) == len(messages)  # nothing redelivered
    # Both waited on the consumer as the chunks came: the server shared them out.
    assert all(c.report.messages > 0 for c in collectors), [c.report for c in collectors]
    assert tree(tmp_path / "m") == {f"{HOST}/{name}": body for name, body in data.items()}
    assert consumer(server, stream).num_ack_pending == 0


def test_redelivery_after_a_collector_died_mid_write(server, stream, tmp_path):
    """A collector killed mid-write left half-written chunks and no acks: after ack_wait the server
    redelivers them and the next collector rewrites the same bytes at the same offsets."""
    data = lines(1000)
    messages = chunks_of(data, 2048)
    publish(server, stream, messages)
    mirror = tmp_path / "mirror"
    # The dead collector: created the consumer (ack_wait 1 s), fetched, wrote a torn prefix of each
    # chunk, acked nothing.
    fetched = _fetch_without_ack(server, stream, len(messages) // 2, ack_wait=1.0)
    (mirror / HOST).mkdir(parents=True)
    with open(mirror / HOST / FILE, "wb") as torn:
        for headers, payload in fetched:
            torn.seek(int(headers["Fastevlog-Offset"]))
            torn.write(payload[:len(payload) // 3])
    collector = Collector(server.url, stream, str(mirror), ack_wait=1.0)
    with collecting(collector):
        wait_until(lambda: collector.report.messages >= len(messages), 30, "the redelivered chunks")
    assert (mirror / HOST / FILE).read_bytes() == data
    info = consumer(server, stream)
    # Each delivery, redeliveries included, takes a consumer sequence number.
    assert info.delivered.consumer_seq > len(messages) and (info.num_pending, info.num_ack_pending) == (0, 0)
    assert collector.report.messages == len(messages)


def _fetch_without_ack(server: NatsServer, stream: str, count: int, ack_wait: float) -> List[Message]:
    async def fetch() -> List[Message]:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig

        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            await js.add_consumer(stream, ConsumerConfig(
                durable_name="fastevlog-collect", ack_policy=AckPolicy.EXPLICIT, ack_wait=ack_wait,
                max_ack_pending=_collector.MAX_ACK_PENDING))
            sub = await js.pull_subscribe_bind(durable="fastevlog-collect", stream=stream)
            got = await sub.fetch(count, timeout=5)
            return [(m.headers, m.data) for m in got]
        finally:
            await nc.close()  # and never acked: as if killed

    return asyncio.run(fetch())


def test_stopping_finishes_the_batch_in_hand(server, stream, tmp_path, monkeypatch):
    """stopping() true while a batch is in hand (a signal during the fetch): that batch is written and
    acked, nothing else is fetched, nothing is left unacked."""
    messages = chunks_of(lines(500), 300)
    publish(server, stream, messages)
    stop = threading.Event()
    fetch = _collector._Puller.fetch

    async def fetch_then_stop(self: Any, batch: int, timeout: float) -> Any:
        fetched = await fetch(self, batch, timeout)
        if fetched[0]:
            stop.set()
        return fetched

    monkeypatch.setattr(_collector._Puller, "fetch", fetch_then_stop)
    collector = Collector(server.url, stream, str(tmp_path / "m"), batch=8)
    collector.run(stopping=limited(stop.is_set))
    assert collector.report.messages == 8
    info = consumer(server, stream)
    assert (info.num_ack_pending, info.num_pending) == (0, len(messages) - 8)
    assert (tmp_path / "m" / HOST / FILE).stat().st_size == sum(len(p) for _, p in messages[:8])


def test_reconnects_after_the_server_is_killed(tmp_path):
    """The server killed (SIGKILL) and restarted on its store mid-collection: the collector reconnects,
    counts it, and the mirror ends whole (redeliveries rewrite the same bytes)."""
    require_nats_server()
    with NatsServer(tmp_path / "own") as server:
        make_stream(server.url, "K", ["K.events"])
        first, second = chunks_of(lines(600, "1"), 1000), chunks_of(lines(600, "2"), 1000, file=OTHER)
        publish(server, "K", first)
        collector = Collector(server.url, "K", str(tmp_path / "m"))
        with collecting(collector, until_idle=None):
            wait_until(lambda: collector.report.messages >= len(first), 20, "the first file")
            server.kill()
            server.start()
            publish(server, "K", second)
            wait_until(lambda: (tmp_path / "m" / HOST / OTHER).exists()
                       and (tmp_path / "m" / HOST / OTHER).stat().st_size == len(lines(600, "2")),
                       30, "the second file")
        assert collector.report.reconnects >= 1
        assert tree(tmp_path / "m") == {f"{HOST}/{FILE}": lines(600, "1"), f"{HOST}/{OTHER}": lines(600, "2")}


def test_a_consumer_deleted_meanwhile_is_made_again(server, stream, tmp_path):
    """The consumer deleted under a running collector (as a server can lose it): made again, it
    delivers the stream from the start, and the rewritten mirror is the same."""
    first, second = lines(300, "1"), lines(300, "2")
    publish(server, stream, chunks_of(first, 1000))
    collector = Collector(server.url, stream, str(tmp_path / "m"))

    async def delete() -> None:
        import nats

        nc = await nats.connect(server.url)
        try:
            for _ in range(50):  # nats-server 2.9 may refuse while the consumer's acks are being written
                try:
                    await nc.jetstream().delete_consumer(stream, "fastevlog-collect")
                    return
                except nats.js.errors.ServerError:
                    await asyncio.sleep(0.1)
            raise AssertionError("the consumer could not be deleted")
        finally:
            await nc.close()

    with collecting(collector):
        wait_until(lambda: collector.report.messages == len(chunks_of(first, 1000)), 20, "the first file")
        asyncio.run(delete())
        publish(server, stream, chunks_of(second, 1000, file=OTHER))
        # At least every chunk again: one in flight when the consumer went may be delivered a third time.
        every = len(chunks_of(first, 1000)) * 2 + len(chunks_of(second, 1000))
        wait_until(lambda: collector.report.messages >= every and consumer_drained(server, stream), 25,
                   "the stream again from its start")
    assert tree(tmp_path / "m") == {f"{HOST}/{FILE}": first, f"{HOST}/{OTHER}": second}
    assert consumer(server, stream).num_ack_pending == 0


def consumer_drained(server, stream) -> bool:
    try:
        info = consumer(server, stream)
    except Exception:  # not made again yet
        return False
    return info.num_pending == 0 and info.num_ack_pending == 0


def test_an_outage_is_not_idleness(tmp_path):
    """until_idle counts only while connected: the server down longer than that does not end the run
    (the stream's messages wait on the server); once it is back and the stream is drained, it ends."""
    require_nats_server()
    with NatsServer(tmp_path / "own") as server:
        make_stream(server.url, "O", ["O.events"])
        publish(server, "O", chunks_of(lines(100, "1"), 1000))
        collector = Collector(server.url, "O", str(tmp_path / "m"))
        done = threading.Event()

        def run() -> None:
            collector.run(stopping=limited(), until_idle=1.0)
            done.set()

        thread = threading.Thread(target=run)
        thread.start()
        try:
            wait_until(lambda: collector.report.messages > 0, 20, "the first chunks")
            server.kill()
            assert not done.wait(3.0), "the collector took the outage for the end of the stream"
            server.start()
            publish(server, "O", chunks_of(lines(100, "2"), 1000, file=OTHER))
            assert done.wait(RUN_LIMIT), "the collector did not end once idle"
        finally:
            thread.join()
        assert tree(tmp_path / "m") == {f"{HOST}/{FILE}": lines(100, "1"), f"{HOST}/{OTHER}": lines(100, "2")}


def test_waits_for_a_stream_created_later(server, tmp_path):
    """The collector may start before any shipper made the stream: it waits for it; with until_idle,
    a stream that never comes is idle and the run ends."""
    collector = Collector(server.url, "LATER", str(tmp_path / "m"))
    collector.run(stopping=limited(), until_idle=0.5)  # never created: ends, nothing written
    assert collector.report.messages == 0
    with collecting(collector):
        make_stream(server.url, "LATER", ["LATER.events"])
        publish(server, "LATER", chunks_of(lines(30), 200))
        wait_until(lambda: (tmp_path / "m" / HOST / FILE).exists()
                   and (tmp_path / "m" / HOST / FILE).read_bytes() == lines(30), 20, "the file")


@pytest.mark.parametrize("arguments, message", [
    ({"servers": "127.0.0.1:4222"}, "servers"),
    ({"stream": "a.b"}, "stream"),
    ({"durable": "x y"}, "durable"),
    ({"batch": 0}, "batch"),
    ({"ack_wait": 0}, "ack_wait"),
    ({"ack_wait": float("nan")}, "ack_wait"),
])
def test_parameters_are_checked(arguments, message):
    parameters: Dict[str, Any] = {"servers": "nats://127.0.0.1:4222", "stream": "S", "directory": "d",
                                  **arguments}
    with pytest.raises(ValueError, match=f"^{message}"):
        Collector(**parameters)
    with pytest.raises(ValueError, match="^until_idle"):
        Collector("nats://127.0.0.1:4222", "S", "d").run(until_idle=-1)
