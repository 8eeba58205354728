"""Flush scheduling: seal the buffer on time, place sealed data in files, track what is written."""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from typing import Deque, List, Optional, Tuple

from ._rotation import LogFiles
from ._writer import Piece, WriterPool

_log = logging.getLogger("fastevlog")


class WriteError(OSError):
    """Events could not be written after every retry; they are kept and retried later."""


class Chunk:
    """One sealed entry of the buffer (a segment, or one oversized line)."""

    __slots__ = ("number", "segment", "events", "pieces_left")

    def __init__(self, number: int, segment: Optional[int], events: int, pieces: int) -> None:
        self.number = number  # 1-based position among all entries ever sealed
        self.segment = segment  # index to release once written; None for an oversized line
        self.events = events
        self.pieces_left = pieces


class FlushScheduler:
    """The thread between the buffer and the writers.

    It seals the active segment every flush_interval (or when asked), takes
    sealed entries in seal order, gives each its file and offset (so order in
    the files is seal order whatever the number of writers), and hands
    segments back to the buffer once all their bytes are written.
    """

    def __init__(self, buffer, mapping, files: LogFiles, num_workers: int, max_retries: int,
                 flush_interval: float) -> None:
        self._buffer = buffer
        self._mapping = mapping
        self._view = memoryview(mapping)
        self._files = files
        self._interval = flush_interval
        # A quarter of the ring per write at most: the producers keep the rest while it runs.
        self.pool = WriterPool(num_workers, max_retries, self._piece_done, batch_bytes=len(mapping) // 4)
        self.pool.pwritev = buffer._pwritev  # os.pwritev, after which producers let the writer back in
        # The buffer writes a byte here when it seals a segment; flush() and stop() too.
        self._wake_r, self.wake_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._run, name="fastevlog-scheduler", daemon=True)

        self._cond = threading.Condition()  # guards every attribute below
        self._taken = 0  # entries taken from the buffer so far
        self._written = 0  # entries 1.._written are entirely in their files
        self._completed: set = set()  # entries written beyond _written
        self._held: List[Piece] = []  # pieces that failed every retry, for the next round
        # A round is one chance for every held piece: each flush() and each
        # flush_interval tick starts one.  Failures are remembered by round so
        # that flush() only blames attempts it started.
        self._round = 0
        self._failed: Deque[Tuple[int, int]] = collections.deque(maxlen=4096)  # (round, entry no.)
        self._stopping = False
        self._dropped_reported = 0
        self.flushes = 0
        self.bytes_written = 0
        self.events_written = 0
        self.write_failures = 0
        self.retries = 0

    def start(self) -> None:
        self.pool.start()
        self._thread.start()

    def flush(self) -> None:
        """Return once everything logged before the call is in its file.

        Raises WriteError when part of it failed every retry (it stays in the
        buffer and is retried on the next flush).
        """
        target = self._buffer.seal()
        flush_round = self._retry_held()
        self._wake()  # to dispatch what was just sealed
        with self._cond:
            while self._written < target:
                failed = [n for r, n in self._failed if r >= flush_round and n <= target]
                if failed:
                    raise WriteError(
                        f"{len(failed)} write(s) of logged events failed after every retry; "
                        "the events are kept and retried on the next flush")
                if not self._thread.is_alive():
                    raise RuntimeError("the fastevlog scheduler thread is not running")
                self._cond.wait(0.5)

    def stop(self) -> None:
        """End the thread and the writers; call flush() first to write what is pending."""
        with self._cond:
            self._stopping = True
        self._wake()
        if self._thread.is_alive():
            self._thread.join()
        self.pool.stop()
        self._report_drops()
        self.abandon()

    def abandon(self) -> None:
        """Let go of the mapping and the pipe (alone, in a forked child: its threads did not survive)."""
        self._view.release()
        os.close(self._wake_r)
        os.close(self.wake_fd)

    @property
    def pending_failures(self) -> int:
        """Pieces that failed every retry and wait for the next round."""
        with self._cond:
            return len(self._held)

    def unwritten_oversized_lines(self) -> int:
        """Held lines longer than a segment: they live outside the buffer file."""
        with self._cond:
            return sum(piece.chunk.segment is None for piece in self._held)

    def _wake(self) -> None:
        try:
            os.write(self.wake_fd, b"w")
        except BlockingIOError:
            pass  # the pipe is full of wake-ups already

    def _run(self) -> None:
        deadline = time.monotonic() + self._interval
        while True:
            timeout = deadline - time.monotonic()
            if timeout > 0:
                self._buffer._wait_readable(self._wake_r, timeout)
            try:
                os.read(self._wake_r, 4096)
            except BlockingIOError:
                pass
            with self._cond:
                stopping = self._stopping
            if time.monotonic() >= deadline:
                self._buffer.seal()
                deadline = time.monotonic() + self._interval
                self._retry_held()
                self._report_drops()
            # Whatever woke us (a sealed segment, flush(), stop(), the tick), dispatch what is sealed.
            self._dispatch(self._buffer.take_sealed())
            if stopping:
                return

    def _report_drops(self) -> None:
        """log() cannot call Python to say it dropped an event; the scheduler says it, once a tick."""
        dropped = self._buffer._buffer_metrics()["dropped"]
        if dropped > self._dropped_reported:
            _log.warning("dropped %d events: the buffer was full (on_full='drop'); %d dropped so far",
                         dropped - self._dropped_reported, dropped)
            self._dropped_reported = dropped

    def _retry_held(self) -> int:
        """Start a new round: resubmit every held piece.  Returns the round."""
        with self._cond:
            self._round += 1
            held, self._held = self._held, []
            for piece in held:
                piece.round = self._round
                self.pool.submit(piece)
            return self._round

    def _dispatch(self, entries: list) -> None:
        for entry in entries:
            if type(entry) is int:
                start, end, events = self._buffer.segment(entry)
                source, view, segment = self._mapping, self._view, entry
            else:  # a line longer than a segment
                start, end, events = 0, len(entry), 1
                source, view, segment = entry, memoryview(entry), None
            placements = self._files.place(source, start, end)
            if segment is not None:
                for file, offset, piece_start, piece_end in placements:
                    self._buffer.record_placement(segment, file.stamp, offset, piece_start, piece_end)
            with self._cond:
                self._taken += 1
                chunk = Chunk(self._taken, segment, events, len(placements))
                self.flushes += 1
                pieces = [Piece(chunk, file, offset, view, piece_start, piece_end, self._round)
                          for file, offset, piece_start, piece_end in placements]
            for piece in pieces:
                self.pool.submit(piece)
            if _log.isEnabledFor(logging.INFO):  # spares building the file list otherwise
                _log.info("flushed %d events (%d bytes) to %s", events, end - start,
                          ", ".join(sorted({file.path for file, *_ in placements})))

    def _piece_done(self, piece: Piece, ok: bool, retries: int, failures: int) -> None:
        if ok:
            self._files.piece_done(piece.file)
        with self._cond:
            self.retries += retries
            self.write_failures += failures
            if not ok:
                if piece.round < self._round:
                    # Its attempt began before the current round: this round's
                    # chance is still owed to it.
                    piece.round = self._round
                    self.pool.submit(piece)
                    return
                self._held.append(piece)
                self._failed.append((piece.round, piece.chunk.number))
                self._cond.notify_all()
                return
            self.bytes_written += piece.end - piece.start
            chunk = piece.chunk
            chunk.pieces_left -= 1
            if chunk.pieces_left:
                return
            self.events_written += chunk.events
            if chunk.segment is not None:
                self._buffer.release(chunk.segment)
            self._completed.add(chunk.number)
            while self._written + 1 in self._completed:
                self._written += 1
                self._completed.remove(self._written)
            self._cond.notify_all()
