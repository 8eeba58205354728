"""The shipper: publishes what the writers wrote to a NATS JetStream stream, from the files themselves.

The local files are the spill: log() never waits for the network, and an
outage only lets files accumulate, to be shipped when the servers answer.
The shipper reads each plain log file of the directory (any base name, any
process) from its acked offset, in chunks of whole lines a little under the
server's max_payload, stopping at the first NUL (a range a writer has not
filled yet) and at an unfinished last line.  It publishes one chunk at a
time and waits for its ack (measured: pipelining more did not ship faster on
one server), then moves the file's offset in the cursor (_ship_cursor.py),
saved at most every SAVE_EVERY seconds: a crash only replays chunks, under
the same ids (_nats.py), and the collector writes them where they were.

It runs on a thread of its own beside a logger (EventLogCounter(ship_to=...))
or in the foreground (``fastevlog ship``), with an asyncio loop for nats-py.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import stat
import threading
import time
from typing import Any, Dict, Optional

from ._closed_files import log_file_pattern
from ._directory import LogDirectory
from ._nats import HEADROOM, chunk_headers, connect, import_nats
from ._priority import lower_priority
from ._ship_config import NatsShipper, ShipReport
from ._ship_cursor import ShipCursor, read_cursor

_log = logging.getLogger("fastevlog")

POLL = 0.1  # seconds between looks at the files when everything written is shipped
SAVE_EVERY = 0.5  # seconds between cursor saves while shipping (each is a write, an fsync and a rename)
STANDBY_POLL = 1.0  # seconds between tries to become the shipper while another process is
PUBLISH_TIMEOUT = 5.0  # seconds for an ack; a cluster's leader election takes 6-8 s, so this is retried
FIRST_RETRY, LAST_RETRY = 0.1, 2.0  # seconds between publish retries, doubling
_WARN_EVERY = 30.0  # seconds between warnings of one kind while the stream does not answer
FAILED_RETRY = 1.0  # seconds before the shipper goes on after an unexpected error
MIN_CHUNK = 1024  # payload bytes a chunk may hold at least, under the server's max_payload
_NO_STREAM_TRIES = 3  # publishes in a row that no stream answered before the stream is looked up again
_PLAIN_LOG_FILE = log_file_pattern(None)


class Shipper:
    """Ships one directory's log files to the stream of config, on a thread (start/stop) or in run()."""

    def __init__(self, config: NatsShipper, directory: LogDirectory) -> None:
        self.config = config
        self.directory = directory
        self.cursor = ShipCursor(directory, config.stream)
        self.report = ShipReport()
        self.acked: Dict[str, int] = {}  # file name -> offset acked, once we are the shipper
        self._is_shipper = False
        self._saved_at = 0.0
        self._dirty = False
        self._draining = False  # stop() called: ship what is written, then end
        self._deadline = math.inf  # monotonic time at which the shipper ends whatever is left
        self._thread: Optional[threading.Thread] = None
        self._warned: Dict[str, float] = {}
        self.failed = False  # run() ended on an unexpected error (logged)
        self._lag_at = -math.inf  # when the lag was last looked at while connecting

    # --- on a thread beside a logger -------------------------------------------------------------

    def start(self) -> None:
        self._become_shipper()  # before the housekeeper's first pass, which must find our cursor
        self._thread = threading.Thread(target=self.run, name="fastevlog-shipper", daemon=True)
        self._thread.start()

    def stop(self, timeout: Optional[float] = None) -> None:
        """Ship what is written for up to timeout seconds (config.stop_timeout); then end, cursor saved."""
        timeout = self.config.stop_timeout if timeout is None else timeout
        self._deadline = time.monotonic() + timeout
        self._draining = True
        if self._thread is not None:
            # The loop notices the deadline within POLL; closing the connection is bounded too.
            self._thread.join(timeout + 5.0)
            if self._thread.is_alive():
                _log.error("the shipper did not end within %.1f s of its stop; left running", timeout + 5.0)

    def abandon(self) -> None:
        """In a forked child: the thread is gone; close our copy of the lock (the parent's holds)."""
        self.cursor.abandon()
        self._thread = None

    def stop_now(self) -> None:
        """End at once (a signal to ``fastevlog ship``), saving the cursor."""
        self._deadline = 0.0
        self._draining = True

    # --- the loop ---------------------------------------------------------------------------------

    def run(self, until_idle: Optional[float] = None) -> None:
        """Ship until stopped; with until_idle, also end once nothing was left to ship for so many seconds."""
        lower_priority()  # the application's threads (the writers, log()) come first
        try:
            self._become_shipper()
            asyncio.run(self._main(until_idle))
        except Exception:
            self.failed = True
            _log.exception("the shipper failed; files are no longer shipped until the next start")
        finally:
            self._save(force=True)
            self.cursor.let_go()

    def _past_deadline(self) -> bool:
        return time.monotonic() >= self._deadline

    async def _main(self, until_idle: Optional[float]) -> None:
        while True:
            client = await connect(self.config.servers, name=f"fastevlog-ship {self.config.host}",
                                   on_reconnect=self._reconnected, stopping=self._connecting)
            if client is None:
                return
            try:
                await self._ship(client, until_idle)
                return
            except _Stopped:
                return
            except _ConnectionClosed:
                self.report.ship_reconnects += 1  # nats-py closed it for good; a new one
            except Exception as error:  # a bug, or an error no retry below expected: the shipper goes on
                self._warn("failed", "the shipper failed (%s: %s); it goes on in %.0f s",
                           type(error).__name__, error, FAILED_RETRY, exc_info=True)
                await self._sleep(FAILED_RETRY)
            finally:
                try:
                    await asyncio.wait_for(client.close(), 2.0)
                except Exception:  # closing a broken connection: nothing is left to lose
                    pass

    def _connecting(self) -> bool:
        """connect()'s stop test, which keeps the lag current (about every second) while no server answers."""
        now = time.monotonic()
        if now - self._lag_at >= 1.0:
            self._lag_at = now
            self._refresh_lag()
        return self._past_deadline()

    def _refresh_lag(self) -> None:
        """The lag without shipping: by our offsets if we are the shipper, else by the cursor it saved."""
        try:
            acked = self.acked if self._is_shipper else read_cursor(self.directory, self.cursor.name) or {}
            self.report.ship_lag_bytes = _lag(self._sizes(), acked)
        except OSError:
            pass

    def _reconnected(self) -> None:
        self.report.ship_reconnects += 1

    async def _ship(self, client: Any, until_idle: Optional[float]) -> None:
        js = client.jetstream(timeout=PUBLISH_TIMEOUT)
        stream_ready = False
        idle_since = time.monotonic()
        while not self._past_deadline():
            if not self._become_shipper():
                if self._draining:
                    return  # the directory's shipper ships our files too
                self._refresh_lag()
                await self._sleep(STANDBY_POLL)
                continue
            if not stream_ready:
                stream_ready = await self._ensure_stream(js)
                if not stream_ready:
                    self._refresh_lag()
                    await self._sleep(1.0)
                    continue
            try:
                shipped = await self._pass(client, js)
            except _StreamGone:
                stream_ready = False  # deleted under us: made again, or waited for
                continue
            now = time.monotonic()
            self._save(force=not shipped)
            if shipped:
                idle_since = now
                continue
            if self._draining:
                return  # stopping, and everything written is shipped
            if until_idle is not None and now - idle_since >= until_idle:
                return
            await self._sleep(POLL)

    async def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._past_deadline() and time.monotonic() < end:
            await asyncio.sleep(min(POLL, end - time.monotonic()))

    def _become_shipper(self) -> bool:
        if not self._is_shipper and self.cursor.take():
            self._is_shipper = True
            self.acked = self.cursor.load()  # now that no one else moves it
            if not self.directory.exists(self.cursor.name):
                # Saved at once: compression and retention hold the files only once a cursor is there.
                self._dirty = True
                self._save(force=True)
        return self._is_shipper

    async def _ensure_stream(self, js: Any) -> bool:
        """Create the stream if it is missing; False (and a warning) while the servers cannot say."""
        nats = import_nats()
        config = self.config
        try:
            try:
                await js.stream_info(config.stream)
                return True
            except nats.js.errors.NotFoundError:
                pass
            api = nats.js.api
            await js.add_stream(api.StreamConfig(
                name=config.stream, subjects=[config.subject], storage=api.StorageType.FILE,
                num_replicas=config.replicas, duplicate_window=config.duplicate_window,
                max_bytes=config.max_bytes if config.max_bytes is not None else -1,
                max_age=config.max_age if config.max_age is not None else 0))
            _log.info("created the JetStream stream %s for subject %s", config.stream, config.subject)
            return True
        except Exception as error:  # the servers are electing a leader, or JetStream is off: ask again
            self._warn("stream", "cannot look up or create the JetStream stream %s (%s: %s); trying again",
                       config.stream, type(error).__name__, error)
            return False

    def _sizes(self) -> Dict[str, int]:
        """The plain log files of the directory, by name (in time order), with their sizes."""
        sizes = {}
        for entry in sorted(self.directory.listdir()):
            match = _PLAIN_LOG_FILE.fullmatch(entry)
            if match is None or match.group(3):
                continue  # not a log file, or a compressed one (compressed only once shipped)
            try:
                found = self.directory.stat(entry)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(found.st_mode):
                sizes[entry] = found.st_size
        return sizes

    async def _pass(self, client: Any, js: Any) -> bool:
        """Ship what the files hold past their acked offsets; True if anything was acked."""
        sizes = self._sizes()
        for gone in set(self.acked) - set(sizes):
            del self.acked[gone]  # deleted, or compressed once shipped: nothing more to ship from it
            self._dirty = True
        self.report.ship_lag_bytes = _lag(sizes, self.acked)
        shipped = False
        for name, size in sizes.items():
            if self._past_deadline():
                break
            if self.acked.get(name, 0) < size:
                shipped = await self._ship_file(client, js, name, size) or shipped
        self.report.ship_lag_bytes = _lag(sizes, self.acked)
        return shipped

    async def _ship_file(self, client: Any, js: Any, name: str, size: int) -> bool:
        try:
            fd = self.directory.open(name, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return False  # gone since the listing, or replaced by something we do not read
        shipped = False
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return False
            offset = self.acked.get(name, 0)
            while offset < size and not self._past_deadline():
                limit = client.max_payload - HEADROOM
                if limit < MIN_CHUNK:
                    self._warn("payload", "the NATS server's max_payload of %d bytes leaves no room for a "
                               "chunk and its headers: fastevlog needs at least %d; nothing is shipped",
                               client.max_payload, HEADROOM + MIN_CHUNK)
                    break
                data = os.pread(fd, min(limit, size - offset), offset)
                end = _chunk_end(data, limit)
                if end == 0:
                    break  # a range not written yet, or an unfinished line: the next pass sees more
                await self._publish(client, js, name, offset, data[:end] if end < len(data) else data)
                offset += end
                self.acked[name] = offset
                self.report.ship_lag_bytes = max(0, self.report.ship_lag_bytes - end)
                self._dirty = True
                shipped = True
                self._save()
        finally:
            os.close(fd)
        return shipped

    async def _publish(self, client: Any, js: Any, name: str, offset: int, chunk: bytes) -> None:
        config = self.config
        headers = chunk_headers(config.host, name, offset, offset + len(chunk))
        nats = import_nats()
        no_stream_errors = (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError)
        delay = FIRST_RETRY
        no_stream = 0
        lines = -1
        while True:
            sending = asyncio.ensure_future(js.publish(config.subject, chunk, stream=config.stream,
                                                       headers=dict(headers)))
            if lines < 0:
                # Counted while the server stores the chunk: a 1 MB chunk's count costs a fifth of the round
                # trip.  Two turns of the loop first put the chunk on the wire (nats-py's flusher writes it).
                await asyncio.sleep(0)
                await asyncio.sleep(0)
                lines = chunk.count(b"\n")
            try:
                await sending
                break
            except Exception as error:  # no ack: the servers are down, electing, or full; the same id again
                if self._past_deadline():
                    raise _Stopped from error
                if client.is_closed:
                    raise _ConnectionClosed from error
                no_stream = no_stream + 1 if isinstance(error, no_stream_errors) else 0
                if no_stream > _NO_STREAM_TRIES:
                    raise _StreamGone from error
                self.report.ship_publish_retries += 1
                self._warn("publish", "publishing to the JetStream stream %s failed (%s: %s); retrying",
                           config.stream, type(error).__name__, error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, LAST_RETRY)
        self.report.shipped_bytes += len(chunk)
        self.report.shipped_events += lines

    def _save(self, force: bool = False) -> None:
        if not self._dirty or not self._is_shipper:
            return
        now = time.monotonic()
        if not force and now - self._saved_at < SAVE_EVERY:
            return
        try:
            self.cursor.save(dict(self.acked))
        except OSError as error:  # a full disk: the next save tries again; a crash meanwhile only replays
            self._warn("save", "cannot save the shipping cursor %s (%s)",
                       self.directory.join(self.cursor.name), error)
            return
        self._dirty = False
        self._saved_at = now

    def _warn(self, kind: str, message: str, *args: Any, exc_info: bool = False) -> None:
        now = time.monotonic()
        if now - self._warned.get(kind, -math.inf) >= _WARN_EVERY:
            self._warned[kind] = now
            _log.warning(message, *args, exc_info=exc_info)


def _chunk_end(data: bytes, limit: int) -> int:
    """How many of data's first bytes make a chunk: whole lines up to the first NUL; 0 if none yet.

    A line longer than a whole chunk goes in parts of limit bytes, or it could never be shipped.
    """
    nul = data.find(b"\0")
    written = data if nul < 0 else data[:nul]
    end = written.rfind(b"\n") + 1
    if end == 0 and nul < 0 and len(data) == limit:
        return limit
    return end


def _lag(sizes: Dict[str, int], acked: Dict[str, int]) -> int:
    return sum(max(0, size - acked.get(name, 0)) for name, size in sizes.items())


class _Stopped(Exception):
    """The stop's deadline passed while a chunk waited for its ack: it is published again next time."""


class _StreamGone(Exception):
    """Nothing answers on the subject, again and again: the stream was deleted, or never took it."""


class _ConnectionClosed(Exception):
    """nats-py closed the connection for good (it does after some protocol errors): connect again."""
