"""The collector: a durable JetStream pull consumer whose chunks are written into a mirror of their
source files, DIR/{host}/{file}, at their source offsets, and acked only once written and synced.

Exactly once at the mirror comes from idempotence, not from the server: a chunk redelivered (a
killed collector's unacked messages after ack_wait, an ack floor a killed server lost, a replay the
duplicate window no longer drops) rewrites the same bytes at the same place.  So a message is acked
only after its bytes are on disk, and a message that could not be written is left for redelivery.

Anyone who can write DIR can plant symlinks in it: host directories and files are opened relative
to their parent's descriptor with O_NOFOLLOW, from names _nats.parse_chunk checked to be single
plain components, so no write lands outside DIR.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import json
import logging
import math
import os
import stat
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Deque, Dict, List, Optional, Sequence, Set, Tuple, Union

from . import _nats
from ._directory import LogDirectory

_log = logging.getLogger("fastevlog")

FILE_MODE = 0o640  # the mirror's files; its directories get 0o750 (LogDirectory's rule)
HOST_MODE = 0o750
# Chunks delivered and not acked yet, for all the collectors sharing the consumer together (set only
# when a collector creates the consumer; an existing one is used as it is).
MAX_ACK_PENDING = 1024
# A fetch waits at most this long for messages: how soon a stop request or --until-idle is seen
# while the stream is quiet.
FETCH_TIMEOUT = 1.0
MIN_FETCH_TIMEOUT = 0.05  # with --until-idle 0: one short wait for the first message
# A write that failed (a full disk) is retried by nak with this delay, doubled for each
# redelivery up to NAK_MAX_DELAY: the disk gets time to clear without a busy loop of errors.
# 1.5, 3.5, 7.5 ... s: half a second off the FETCH_TIMEOUT beat.  With a delay of exactly 1 s,
# nats-server 2.9.10 was seen (in about one test run of five) to count a nak'ed message delivered
# when it fell due as an idle collector's pull request expired, and send nothing: it came back
# only after ack_wait.
NAK_DELAY = 1.5
NAK_MAX_DELAY = 29.5
# Errors a consumer lookup may meet while the servers come and go: waited out.
RETRY_DELAY = 0.5
CONSUMER_CHECK = 2.0  # seconds between looks, while the stream is quiet, that the consumer is still there
# A pull request's answer (messages, or the server's notice that it expired) is awaited this much
# longer than the request lives on the server before the server counts as out of reach.
ANSWER_GRACE = 0.5
STREAM_NOT_FOUND = 10059  # JetStream's error code; 10014 is "consumer not found"
# Bytes of deliveries the client may hold for the collector: a batch of 1 MB chunks, twice over.
PENDING_BYTES = 256 * 1024 * 1024
# Open descriptors kept between batches: a shipper writes one or two files of a host at a time.
OPEN_FILES = 64
OPEN_HOSTS = 64
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK so that a FIFO planted in the mirror fails to open instead of blocking the collector.
_FILE_FLAGS = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


@dataclass
class CollectReport:
    """What a Collector did so far (counts since it was made; a redelivered chunk counts again)."""

    messages: int = 0  # chunks written, synced and acked
    bytes: int = 0  # their payload bytes
    rejected: int = 0  # invalid messages: logged, terminated (never redelivered), never written
    reconnects: int = 0  # reconnections of the client to a server
    write_failures: int = 0  # chunks not written (a full disk, a symlink in the way): not acked, redelivered


class _Idle:
    """How long fetches found nothing, counted only while connected: an outage is not the end of the
    stream (its messages wait on the server)."""

    def __init__(self, seconds: Optional[float], connected: Callable[[], bool],
                 reconnects: Callable[[], int]) -> None:
        self.seconds = seconds
        self._connected = connected
        self._reconnects = reconnects
        self._since: Optional[float] = None
        self._attempt: Tuple[float, int] = (0.0, 0)

    def start(self) -> None:
        """A fetch begins."""
        self._attempt = (time.monotonic(), self._reconnects())

    def found_nothing(self) -> None:
        started, reconnects = self._attempt
        if not self._connected() or self._reconnects() != reconnects:
            self._since = None
        elif self._since is None:
            self._since = started

    def reset(self) -> None:
        self._since = None

    def over(self) -> bool:
        return self.seconds is not None and self._since is not None \
            and time.monotonic() - self._since >= self.seconds


class _Puller:
    """Pull requests to the durable consumer, answered on an inbox of its own.

    Not nats-py's PullSubscription.fetch, which takes any message with a "Status" header for the
    server's notice: anyone who can publish on the stream's subjects could stall it with one (an
    error raised at every fetch, the message never acked nor terminated).  Here a delivery is told
    by its $JS.ACK reply subject, whatever its headers, and is rejected like any invalid chunk.
    Every delivery lands in a deque from the subscription's callback and stays until taken,
    whenever it comes.  Each request has its own reply subject, so the server's notice that a
    request expired (408) or found nothing (404) ends only that request's wait.
    """

    def __init__(self, nc: Any, stream: str, durable: str) -> None:
        self._nc = nc
        self._subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = nc.new_inbox()
        self._sub: Any = None
        self._messages: Deque[Any] = collections.deque()
        self._arrived = asyncio.Event()
        self._request = 0
        self._answered: Set[int] = set()  # requests the server answered (a message or a notice)
        self._ended: Set[int] = set()  # requests the server will send nothing more for
        self.gone: Optional[str] = None  # the server's word that the consumer went away

    async def start(self) -> None:
        # nats-py subscribes again by itself after a reconnect.
        self._sub = await self._nc.subscribe(f"{self._inbox}.*", cb=self._received,
                                             pending_bytes_limit=PENDING_BYTES)

    async def stop(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception:  # the connection is gone: so is the subscription
                pass

    async def _received(self, message: Any) -> None:
        request = message.subject.rpartition(".")[2]
        number = int(request) if request.isdigit() else -1
        self._answered.add(number)
        if (message.reply or "").startswith("$JS.ACK."):  # a delivery; anything else is a notice
            self._messages.append(message)
        else:
            # nats-py keys Description by an enum member, which is not equal to the str as a key.
            headers = {str(getattr(key, "value", key)): value
                       for key, value in (message.headers or {}).items()}
            status = headers.get("Status", "")
            if status != "100":  # 100: a heartbeat; 404/408: nothing (more); 409: see below
                self._ended.add(number)
            if status == "409" and "deleted" in headers.get("Description", "").lower():
                self.gone = headers["Description"]
            elif status == "503":  # no responders: the consumer was deleted while no request waited on it
                self.gone = "no consumer answered the pull request"
        self._arrived.set()

    def take(self, count: int) -> List[Any]:
        return [self._messages.popleft() for _ in range(min(count, len(self._messages)))]

    async def fetch(self, batch: int, timeout: float) -> Tuple[List[Any], bool]:
        """Up to batch messages, waiting up to timeout for the first; and whether the server answered.

        First what the consumer has now (no_wait: the server answers at once, 404 when nothing);
        only when that is nothing, a request that waits on the server for the first message.
        """
        if len(self._messages) >= batch:
            return self.take(batch), True
        answered = await self._request_and_wait(batch, {"no_wait": True}, timeout)
        if answered and not self._messages:
            answered = await self._request_and_wait(batch, {"expires": int(timeout * 1e9)}, timeout)
        return self.take(batch), answered or bool(self._messages)

    async def _request_and_wait(self, batch: int, options: Dict[str, Any], timeout: float) -> bool:
        """Send a pull request; wait until batch messages are in hand or the server ends the
        request; whether it answered."""
        self._request += 1
        number = self._request
        self._answered.clear()
        self._ended.clear()
        self.gone = None
        request = {"batch": batch - len(self._messages), **options}
        try:
            await self._nc.publish(self._subject, json.dumps(request).encode(),
                                   reply=f"{self._inbox}.{number}")
        except Exception as error:  # the client is closed, or its buffer full while reconnecting
            _log.debug("pull request: %s", error)
            await asyncio.sleep(min(timeout, RETRY_DELAY))
            return False
        deadline = time.monotonic() + timeout + ANSWER_GRACE
        while len(self._messages) < batch and number not in self._ended:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except asyncio.TimeoutError:
                break
        return number in self._answered


class _Unwritable(Exception):
    """A chunk that no retry can write (beyond the file system's largest file): rejected."""


class _Mirror:
    """DIR held open, with its host directories and their files opened by descriptor, least recently
    used closed first."""

    def __init__(self, path: str) -> None:
        self.root = LogDirectory(path, FILE_MODE)
        self._hosts: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._files: collections.OrderedDict[Tuple[str, str], int] = collections.OrderedDict()
        # Created since the last sync: their parent's entry must reach the disk before an ack.
        self.new_hosts: Set[str] = set()
        self.new_files: Set[Tuple[str, str]] = set()

    def path(self, host: str, file: Optional[str] = None) -> str:
        return os.path.join(self.root.path, host, *([] if file is None else [file]))

    def _host(self, host: str) -> int:
        fd = self._hosts.get(host)
        if fd is not None:
            self._hosts.move_to_end(host)
            return fd
        try:
            fd = self._open_host(host)
        except FileNotFoundError:
            try:
                os.mkdir(host, HOST_MODE, dir_fd=self.root.fd)
                self.new_hosts.add(host)
            except FileExistsError:  # another collector sharing the consumer made it meanwhile
                pass
            fd = self._open_host(host)
        self._hosts[host] = fd
        if len(self._hosts) > OPEN_HOSTS:
            old_host, old_fd = self._hosts.popitem(last=False)
            for key in [key for key in self._files if key[0] == old_host]:
                self.forget(key)
            os.close(old_fd)
        return fd

    def _open_host(self, host: str) -> int:
        try:
            return os.open(host, _DIRECTORY_FLAGS, dir_fd=self.root.fd)
        except OSError as error:
            if error.errno in (errno.ENOTDIR, errno.ELOOP):
                raise OSError(error.errno, "a symlink or not a directory, not written through",
                              self.path(host)) from None
            raise

    def file(self, host: str, name: str) -> int:
        """The descriptor of DIR/host/name, created if missing; OSError if it is not a regular file."""
        key = (host, name)
        fd = self._files.get(key)
        if fd is not None:
            self._files.move_to_end(key)
            return fd
        host_fd = self._host(host)
        try:
            try:
                fd = os.open(name, _FILE_FLAGS | os.O_CREAT | os.O_EXCL, FILE_MODE, dir_fd=host_fd)
                self.new_files.add(key)
            except FileExistsError:
                fd = os.open(name, _FILE_FLAGS, dir_fd=host_fd)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENXIO):  # a symlink; a FIFO nobody reads
                raise OSError(error.errno, "a symlink or not a regular file, not written through",
                              self.path(host, name)) from None
            raise
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise OSError(errno.EINVAL, "not a regular file, not written through", self.path(host, name))
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        self._files[key] = fd
        if len(self._files) > OPEN_FILES:
            self.forget(next(iter(self._files)))
        return fd

    def write(self, host: str, name: str, offset: int, payload: bytes) -> None:
        fd = self.file(host, name)
        if os.fstat(fd).st_nlink == 0:  # removed from the mirror since it was opened: make it again
            self.forget((host, name))
            fd = self.file(host, name)
        view = memoryview(payload)
        try:
            while view:
                written = os.pwrite(fd, view, offset)
                view, offset = view[written:], offset + written
        except OSError as error:
            if error.errno == errno.EFBIG:
                raise _Unwritable(f"{self.path(host, name)}: offset {offset} is beyond the largest file "
                                  f"this file system holds ({error.strerror})") from None
            raise

    def sync(self, key: Tuple[str, str]) -> None:
        fd = self._files.get(key)
        if fd is None:
            # Closed since written (the LRU, within one batch): close() wrote back nothing; open it again.
            fd = self.file(*key)
        os.fdatasync(fd)

    def sync_directory(self, host: Optional[str]) -> None:
        """fsync of DIR/host (host None: of DIR), so that the entries created in it last."""
        os.fsync(self.root.fd if host is None else self._host(host))

    def forget(self, key: Tuple[str, str]) -> None:
        """Close the file's descriptor: after a failed write or sync its state is not to be trusted."""
        fd = self._files.pop(key, None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def close(self) -> None:
        for key in list(self._files):
            self.forget(key)
        while self._hosts:
            os.close(self._hosts.popitem()[1])
        self.root.close()


class Collector:
    """Pulls chunks from a durable consumer on a JetStream stream into DIR/{host}/{file}.

    servers: "nats://host:port" or several, comma-separated or a list.  The consumer (durable)
    is created if missing with ack_wait; an existing one is used as it is, so several collectors
    (on one machine or several, writing one DIR or each its own) share its messages.  run() blocks
    until stopping() is true or, with until_idle, once fetches found nothing for that many seconds
    while connected; report holds the counts.
    """

    def __init__(self, servers: Union[str, Sequence[str]], stream: str, directory: str,
                 durable: str = "fastevlog-collect", batch: int = 64, ack_wait: float = 30.0) -> None:
        self.servers = _nats.split_servers(servers, "servers")
        _nats.check_name(stream, "stream")
        _nats.check_name(durable, "durable")
        if not isinstance(directory, str) or not directory:
            raise ValueError(f"directory must be a path, not {directory!r}")
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a whole number of at least 1, not {batch!r}")
        if isinstance(ack_wait, bool) or not isinstance(ack_wait, (int, float)) \
                or not 0 < ack_wait < math.inf:
            raise ValueError(f"ack_wait must be a positive number of seconds, not {ack_wait!r}")
        self.stream = stream
        self.directory = directory
        self.durable = durable
        self.batch = batch
        self.ack_wait = float(ack_wait)
        self.report = CollectReport()
        self._waiting_said = False

    def run(self, stopping: Optional[Callable[[], bool]] = None, until_idle: Optional[float] = None) -> None:
        """Collect until stopping() or until_idle seconds without a message; the batch in hand is
        written and acked first.  Raises ImportError without nats-py, OSError when DIR cannot be
        opened."""
        if until_idle is not None and (isinstance(until_idle, bool)
                                       or not isinstance(until_idle, (int, float))
                                       or not 0 <= until_idle < math.inf):
            raise ValueError(f"until_idle must be a finite number of seconds, at least 0, not {until_idle!r}")
        _nats.import_nats()
        mirror = _Mirror(self.directory)
        try:
            asyncio.run(self._collect(mirror, stopping or (lambda: False), until_idle))
        finally:
            mirror.close()

    def _reconnected(self) -> None:
        self.report.reconnects += 1

    async def _collect(self, mirror: _Mirror, stopping: Callable[[], bool],
                       until_idle: Optional[float]) -> None:
        nats = _nats.import_nats()
        nc = await _nats.connect(self.servers, name=f"fastevlog-collect {self.durable}",
                                 on_reconnect=self._reconnected, stopping=stopping)
        if nc is None:  # stopped before a server answered
            return
        idle = _Idle(until_idle, lambda: nc.is_connected, lambda: self.report.reconnects)
        puller = _Puller(nc, self.stream, self.durable)
        try:
            js = nc.jetstream()
            fetch_timeout = FETCH_TIMEOUT if until_idle is None else max(MIN_FETCH_TIMEOUT,
                                                                          min(FETCH_TIMEOUT, until_idle))
            await puller.start()
            consumer_found = False
            checked = time.monotonic()
            while not stopping() and not idle.over():
                if not consumer_found:
                    consumer_found = await self._find_consumer(nats, js, stopping, idle)
                    continue
                idle.start()
                messages, answered = await puller.fetch(self.batch, fetch_timeout)
                if messages:
                    idle.reset()
                    await self._store(messages, mirror)
                elif puller.gone is not None:  # deleted (by hand, or a server lost it): made again
                    _log.warning("consumer %s of stream %s: %s; looking it up again", self.durable,
                                 self.stream, puller.gone)
                    idle.reset()
                    consumer_found = False
                elif answered:
                    idle.found_nothing()
                    if time.monotonic() - checked >= CONSUMER_CHECK:
                        checked = time.monotonic()
                        consumer_found = await self._consumer_still_there(nats, js)
                else:
                    # Not even an expiry notice: the server is out of reach, or it has no consumer
                    # (or stream) of that name to answer for; look it up again once connected.
                    idle.reset()
                    consumer_found = not nc.is_connected
            # Chunks delivered after the last batch: written and acked too, rather than left to ack_wait.
            left = puller.take(MAX_ACK_PENDING)
            if left:
                await self._store(left, mirror)
            try:
                await nc.flush(timeout=5)  # the last acks out before the connection closes
            except (asyncio.TimeoutError, nats.errors.Error):
                pass  # unacked messages come back after ack_wait: rewritten, harmless
        finally:
            await puller.stop()
            await nc.close()

    async def _find_consumer(self, nats: Any, js: Any, stopping: Callable[[], bool], idle: _Idle) -> bool:
        """Whether the durable consumer is there, created if missing (after a RETRY_DELAY when not)."""
        idle.start()
        try:
            try:
                await js.consumer_info(self.stream, self.durable)
            except nats.js.errors.NotFoundError as error:
                if error.err_code == STREAM_NOT_FOUND:
                    raise
                await self._create_consumer(nats, js)
            self._waiting_said = False
            return True
        except nats.js.errors.NotFoundError as error:
            # The shippers create the stream: a collector may well start first.  Nothing to fetch
            # is idle.
            if not self._waiting_said:
                _log.warning("stream %s: %s; waiting for it", self.stream, error.description or error)
                self._waiting_said = True
            await asyncio.sleep(RETRY_DELAY)
            idle.found_nothing()
        except nats.errors.Error as error:
            _log.warning("consumer %s of stream %s: %s; trying again", self.durable, self.stream,
                         error or type(error).__name__)
            idle.reset()
            await asyncio.sleep(RETRY_DELAY)
        return False

    async def _consumer_still_there(self, nats: Any, js: Any) -> bool:
        """Whether the consumer is still there: to pull requests, a quiet stream and a consumer deleted
        while no request waited on it can look alike (nats-server 2.9 was seen to say nothing)."""
        try:
            await js.consumer_info(self.stream, self.durable)
        except nats.js.errors.NotFoundError as error:
            _log.warning("consumer %s of stream %s: %s; looking it up again", self.durable, self.stream,
                         error.description or error)
            return False
        except nats.errors.Error:  # out of reach for now: the next fetch says more
            pass
        return True

    async def _create_consumer(self, nats: Any, js: Any) -> None:
        config = nats.js.api.ConsumerConfig(
            durable_name=self.durable, ack_policy=nats.js.api.AckPolicy.EXPLICIT,
            deliver_policy=nats.js.api.DeliverPolicy.ALL, ack_wait=self.ack_wait,
            max_ack_pending=MAX_ACK_PENDING)
        try:
            await js.add_consumer(self.stream, config)
        except nats.js.errors.BadRequestError:
            # Another collector created it meanwhile with another ack_wait: it is used as it is.
            await js.consumer_info(self.stream, self.durable)

    async def _store(self, messages: List[Any], mirror: _Mirror) -> None:
        """Write the batch, sync what it touched, then ack what is on disk; reject the invalid, nak the
        rest."""
        chunks: List[Tuple[Any, _nats.ChunkSource]] = []
        for message in messages:
            try:
                chunks.append((message, _nats.parse_chunk(message.headers, message.data)))
            except ValueError as error:
                await self._reject(message, str(error))
        if not chunks:
            return
        loop = asyncio.get_running_loop()
        # Off the event loop: the client keeps reading the socket (and answering pings) meanwhile.
        written, failed, unwritable = await loop.run_in_executor(None, self._write, chunks, mirror)
        for message, reason in unwritable:
            await self._reject(message, reason)
        for message, payload_bytes in written:
            self.report.messages += 1
            self.report.bytes += payload_bytes
            await _answer(message.ack())
        for message in failed:
            self.report.write_failures += 1
            await _answer(message.nak(delay=self._nak_delay(message)))

    def _write(self, chunks: List[Tuple[Any, _nats.ChunkSource]], mirror: _Mirror
               ) -> Tuple[List[Tuple[Any, int]], List[Any], List[Tuple[Any, str]]]:
        """(written and synced, failed, unwritable with why); each failure logged once per file."""
        by_file: Dict[Tuple[str, str], List[Tuple[Any, int]]] = {}
        failed: List[Any] = []
        unwritable: List[Tuple[Any, str]] = []
        errors: Dict[Tuple[str, str], Tuple[OSError, List[Any]]] = {}

        def fail(key: Tuple[str, str], error: OSError, batch: List[Any]) -> None:
            mirror.forget(key)
            failed.extend(batch)
            if key in errors:
                errors[key][1].extend(batch)
            else:
                errors[key] = (error, list(batch))

        for message, source in chunks:
            key = (source.host, source.file)
            if key in errors:  # the same failure again, most likely: left for the redelivery
                fail(key, errors[key][0], [message])
                continue
            try:
                mirror.write(source.host, source.file, source.start, message.data)
            except _Unwritable as error:
                unwritable.append((message, str(error)))
                continue
            except OSError as error:
                fail(key, error, [message])
                continue
            by_file.setdefault(key, []).append((message, len(message.data)))
        for key in list(by_file):
            try:
                mirror.sync(key)
            except OSError as error:
                fail(key, error, [message for message, _ in by_file.pop(key)])
        # The entries of files and host directories made in this batch, before their chunks are acked.
        for host in sorted({host for host, _ in mirror.new_files} | mirror.new_hosts):
            try:
                mirror.sync_directory(host)
            except OSError as error:
                for key in [key for key in by_file if key[0] == host]:
                    fail(key, error, [message for message, _ in by_file.pop(key)])
        if mirror.new_hosts:
            try:
                mirror.sync_directory(None)
            except OSError as error:
                for key in [key for key in by_file if key[0] in mirror.new_hosts]:
                    fail(key, error, [message for message, _ in by_file.pop(key)])
        # Entries whose sync failed are made again, and synced again, when their chunks come back.
        mirror.new_hosts.clear()
        mirror.new_files.clear()
        for (host, name), (failure, batch) in errors.items():
            delay = self._nak_delay(batch[0])
            _log.error("cannot write %d chunk(s) into %s: %s; not acked, redelivered in %g s",
                       len(batch), os.path.join(mirror.root.path, host, name), _reason(failure), delay)
        return [item for batch in by_file.values() for item in batch], failed, unwritable

    async def _reject(self, message: Any, reason: str) -> None:
        _log.error("rejected message %s of stream %s: %s", _describe(message), self.stream, reason)
        self.report.rejected += 1
        await _answer(message.term())

    @staticmethod
    def _nak_delay(message: Any) -> float:
        try:
            delivered = message.metadata.num_delivered
        except Exception:  # not a JetStream message's reply subject: the first delay
            delivered = 1
        return min(NAK_MAX_DELAY, (NAK_DELAY + 0.5) * 2 ** min(max(delivered - 1, 0), 8) - 0.5)


async def _answer(reply: Awaitable[None]) -> None:
    """An ack, nak or term sent if the client can: one lost (the connection closed meanwhile) only
    brings the message back after ack_wait, to be written again at the same place."""
    try:
        await reply
    except Exception as error:  # nats.errors.Error, when nats-py is not imported by name here
        _log.debug("answering a message: %s", error)


def _reason(error: OSError) -> str:
    if error.strerror and error.filename is not None:
        return f"{error.strerror} ({errno.errorcode.get(error.errno or 0, error.errno)})"
    return str(error)


def _describe(message: Any) -> str:
    """The message's stream sequence and id, whatever its headers hold, for an error line."""
    parts = []
    try:
        parts.append(f"#{message.metadata.sequence.stream}")
    except Exception:
        pass
    headers = message.headers or {}
    if "Nats-Msg-Id" in headers:
        parts.append(repr(headers["Nats-Msg-Id"][:300]))
    return " ".join(parts) or "(no id)"
