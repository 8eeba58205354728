"""Flush scheduling: seal the buffer on time, place sealed data in files, track what is written."""

from __future__ import annotations

import collections
import errno
import logging
import os
import sys
import threading
import time
import traceback
from typing import Deque, List, Optional, Tuple

from . import _core
from ._errors import WriteError
from ._rotation import LogFiles
from ._writer import Piece, WriterPool

_log = logging.getLogger("fastevlog")

# Creating a log file that failed is tried again after this, doubling up to the cap.
FIRST_OPEN_RETRY = 0.01
LAST_OPEN_RETRY = 1.0


class Delivery:
    """One sealed entry of the buffer (a segment, or one oversized line) on its way to the files."""

    __slots__ = ("number", "segment", "events", "source", "view", "start", "placed", "end", "pieces_left")

    def __init__(self, number: int, segment: Optional[int], events: int, source, view: memoryview,
                 start: int, end: int) -> None:
        self.number = number  # 1-based position among all entries ever sealed
        self.segment = segment  # index to release once written; None for an oversized line
        self.events = events
        self.source = source  # where place() looks for line ends: the mapping, or the line (bytes)
        self.view = view  # the same bytes, for the writers
        self.start = start  # the entry is source[start:end]
        self.placed = start  # source[start:placed] has its place in files
        self.end = end
        self.pieces_left = 0  # pieces placed and not written yet


class FlushScheduler:
    """The thread between the buffer and the writers.

    It seals the active segment every flush_interval (or when asked), takes
    sealed entries in seal order, gives each its file and offset (so order in
    the files is seal order whatever the number of writers), and hands
    segments back to the buffer once all their bytes are written.

    A segment spanning more files than the buffer file has placement slots
    (with a max_file_size smaller than a segment) is placed that many pieces
    at a time: the next ones once those are written, so that every piece is
    recorded before it is written.  Entries sealed after it wait.

    When a log file cannot be created (no descriptors, no inodes, a read-only
    or deleted directory), nothing more is placed: it is retried with backoff
    until it works, while on_full decides what producers do once the ring fills.
    """

    def __init__(self, mapping, files: LogFiles, num_workers: int, max_retries: int,
                 flush_interval: float, buffer_path: str = "") -> None:
        self._ring: _core.Ring  # given by start()
        self._mapping = mapping
        self._view = memoryview(mapping)
        self._files = files
        self._interval = flush_interval
        self._max_retries = max_retries
        self._buffer_path = buffer_path  # for messages
        # A quarter of the ring per write at most: the producers keep the rest while it runs.
        self.pool = WriterPool(num_workers, max_retries, self._piece_done, batch_bytes=len(mapping) // 4)
        self.pool.died = self._broke
        # The buffer writes a byte here when it seals a segment; flush() and stop() too.
        self._wake_r, self.wake_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._main, name="fastevlog-scheduler", daemon=True)
        # The scheduler thread's own: entries taken from the buffer so far, and
        # those whose bytes are not all placed yet, in seal order.
        self._taken = 0
        self._unplaced: Deque[Delivery] = collections.deque()

        self._cond = threading.Condition()  # guards every attribute below
        self._written = 0  # entries 1.._written are entirely in their files
        self._completed: set = set()  # entries written beyond _written
        self._held: List[Piece] = []  # pieces that failed every retry, for the next round
        # A round is one chance for every held piece: each flush() and each
        # flush_interval tick starts one.  Failures are remembered by round so
        # that flush() only blames attempts it started.
        self._round = 0
        self._failed: Deque[Tuple[int, int]] = collections.deque(maxlen=4096)  # (round, entry no.)
        self._stopping = False
        self._broken: Optional[str] = None  # why a background thread ended
        # Creating a log file: failures since the last success, and when to try again.
        self._open_failures_in_row = 0
        self._open_retry_delay = 0.0
        self._open_retry_at = 0.0  # time.monotonic()
        self._open_failing_since = 0.0
        self._dropped_reported = 0
        self._oversized_unwritten = 0  # lines longer than a segment taken and not written yet
        self.flushes = 0
        self.bytes_written = 0
        self.events_written = 0
        self.write_failures = 0
        self.retries = 0
        self.file_open_failures = 0

    def start(self, ring: _core.Ring) -> None:
        """Start taking what ``ring`` seals (the ring wakes wake_fd when it does)."""
        self._ring = ring
        self.pool.pwritev = ring.pwritev  # os.pwritev, after which producers let the writer back in
        self.pool.start()
        self._thread.start()

    def flush(self) -> None:
        """Return once everything logged before the call is in its file.

        Raises WriteError when part of it failed every retry (it stays in the
        buffer and is retried on the next flush), RuntimeError when a
        background thread ended and nothing more can be written.
        """
        target = self._ring.seal()
        flush_round = self._retry_held(new_file_now=True)
        self._wake()  # to dispatch what was just sealed
        with self._cond:
            while True:
                if self._broken is not None:
                    raise RuntimeError(f"this logger is broken: {self._broken}; nothing more is written "
                                       "(see the CRITICAL record logged then)")
                if self._written >= target:
                    return
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
        self._unplaced.clear()
        self._view.release()
        os.close(self._wake_r)
        os.close(self.wake_fd)

    @property
    def pending_failures(self) -> int:
        """Pieces that failed every retry and wait for the next round."""
        with self._cond:
            return len(self._held)

    def unwritten_oversized_lines(self) -> int:
        """Lines longer than a segment not written yet: they live outside the buffer file."""
        with self._cond:
            return self._oversized_unwritten

    def _wake(self) -> None:
        try:
            os.write(self.wake_fd, b"w")
        except BlockingIOError:
            pass  # the pipe is full of wake-ups already

    def _main(self) -> None:
        try:
            self._run()
        except BaseException:
            # The traceback as text only: a record holding the exception would
            # keep its frames, and so views of the buffer, alive.
            error = sys.exc_info()[1]
            reason = f"the scheduler thread ended on {type(error).__name__}: {error}"
            _log.critical("%s; nothing more is written by this logger:\n%s", reason, traceback.format_exc())
            del error
            self._broke(reason)

    def _broke(self, reason: str) -> None:
        """A background thread ended (reported already): log(), log_many() and flush() raise from now on."""
        with self._cond:
            if self._broken is None:
                self._broken = reason
            self._cond.notify_all()
        self._ring.break_(reason)

    def _run(self) -> None:
        deadline = time.monotonic() + self._interval
        while True:
            wake_at = deadline
            if self._unplaced and self._open_failures_in_row:
                wake_at = min(wake_at, self._open_retry_at)
            timeout = wake_at - time.monotonic()
            if timeout > 0:
                self._ring.wait_readable(self._wake_r, timeout)
            try:
                os.read(self._wake_r, 4096)
            except BlockingIOError:
                pass
            with self._cond:
                stopping = self._stopping
            if time.monotonic() >= deadline:
                self._ring.seal()
                deadline = time.monotonic() + self._interval
                self._retry_held()
                self._report_drops()
            # Whatever woke us (a sealed segment, a written group of pieces,
            # flush(), stop(), the tick), place what is sealed.
            self._dispatch()
            if stopping:
                return

    def _report_drops(self) -> None:
        """log() cannot call Python to say it dropped an event; the scheduler says it, once a tick."""
        dropped = self._ring.metrics()["dropped"]
        if dropped > self._dropped_reported:
            _log.warning("dropped %d events: the buffer was full (on_full='drop'); %d dropped so far",
                         dropped - self._dropped_reported, dropped)
            self._dropped_reported = dropped

    def _retry_held(self, new_file_now: bool = False) -> int:
        """Start a new round: resubmit every held piece.  Returns the round.

        With new_file_now (a flush), a log file that could not be created is
        tried again at once, so the flush learns whether it still fails.
        """
        with self._cond:
            self._round += 1
            held, self._held = self._held, []
            for piece in held:
                piece.round = self._round
                self.pool.submit(piece)
            if new_file_now:
                self._open_retry_at = 0.0
            return self._round

    def _delivery_of(self, entry) -> Delivery:
        self._taken += 1
        if entry.line is None:
            return Delivery(self._taken, entry.segment, entry.events, self._mapping, self._view,
                            entry.start, entry.end)
        with self._cond:
            self._oversized_unwritten += 1
        return Delivery(self._taken, None, 1, entry.line, memoryview(entry.line), 0, entry.end)

    def _dispatch(self) -> None:
        """Place sealed entries in order, as far as files can be created; hand the pieces to the writers."""
        for entry in self._ring.take_sealed():
            self._unplaced.append(self._delivery_of(entry))
        if not self._unplaced:
            return
        if self._open_failures_in_row and time.monotonic() < self._open_retry_at:
            return
        try:
            if self._files.recreate_directory_if_removed():
                self._report_directory_removed()
        except OSError as error:
            self._open_failed(self._unplaced[0], error)
            return
        while self._unplaced:
            delivery = self._unplaced[0]
            with self._cond:
                if delivery.pieces_left:
                    return  # its recorded pieces are written first (see the class docstring)
            try:
                self._place(delivery)
            except OSError as error:
                if error.errno == errno.ENOENT and self._recreate_directory():
                    continue
                self._open_failed(delivery, error)
                return
            if self._open_failures_in_row:
                self._open_recovered()
            if delivery.placed == delivery.end:
                self._unplaced.popleft()

    def _place(self, delivery: Delivery) -> None:
        """Place the next pieces of delivery: all of them, or as many as the buffer file records at a time."""
        most = None
        if delivery.segment is not None:
            most = _core.PLACEMENT_SLOTS
            if delivery.placed > delivery.start:  # the pieces recorded so far are written: free their slots
                self._ring.recycle_placements(delivery.segment, delivery.placed)
        placements = self._files.place(delivery.source, delivery.placed, delivery.end, most)
        if delivery.segment is not None:
            for file, offset, piece_start, piece_end in placements:
                self._ring.record_placement(delivery.segment, file.stamp, offset, piece_start, piece_end)
        first = delivery.placed == delivery.start
        with self._cond:
            if first:
                self.flushes += 1
            delivery.placed = placements[-1][3]
            delivery.pieces_left += len(placements)
            pieces = [Piece(delivery, file, offset, delivery.view, piece_start, piece_end, self._round)
                      for file, offset, piece_start, piece_end in placements]
        for piece in pieces:
            self.pool.submit(piece)
        # DEBUG: a flush happens every flush_interval, so at INFO logging.basicConfig(level=INFO)
        # would print a line a second; what needs attention (rotations, failures) is INFO and above.
        if _log.isEnabledFor(logging.DEBUG):  # spares building the file list otherwise
            files = ", ".join(sorted({file.path for file, *_ in placements}))
            if first:
                _log.debug("flushed %d events (%d bytes) to %s", delivery.events,
                           delivery.end - delivery.start, files)
            else:
                _log.debug("flushed the next %d bytes of those to %s",
                           placements[-1][3] - placements[0][2], files)

    def _recreate_directory(self) -> bool:
        """Recreate the log directory if it was deleted; True if it was."""
        if not self._files.recreate_directory_if_removed():
            return False
        self._report_directory_removed()
        return True

    def _report_directory_removed(self) -> None:
        _log.error("the log directory %s was deleted, and this logger's buffer file %s with it: the events "
                   "not written yet are only in this process's memory until written (a crash would lose "
                   "them); logging goes on in the recreated directory",
                   self._files.directory.path, self._buffer_path)

    def _open_failed(self, delivery: Delivery, error: OSError) -> None:
        """A log file could not be created: try again later; once it failed every retry, fail flushes."""
        now = time.monotonic()
        with self._cond:
            self.file_open_failures += 1
            self._open_failures_in_row += 1
            in_row = self._open_failures_in_row
            if in_row == 1:
                self._open_failing_since = now
                self._open_retry_delay = FIRST_OPEN_RETRY
            else:
                self._open_retry_delay = min(self._open_retry_delay * 2, LAST_OPEN_RETRY)
            self._open_retry_at = now + self._open_retry_delay
            delay = self._open_retry_delay
        # Reported before a flush() can fail for it, so its caller finds the report already there.
        # Text only, like the writers: the exception's traceback would keep views alive.
        _log.error("cannot create a log file in %s (%s); failure %d in a row, next try in %.0f ms",
                   self._files.directory.path, error, in_row, delay * 1000)
        if in_row == self._max_retries + 1:
            _log.critical(
                "cannot create log files in %s: %d attempts failed (%s); nothing is written until it "
                "works again (retried every %g s at most); meanwhile the buffer fills and on_full "
                "decides whether log() waits or drops", self._files.directory.path, in_row, error,
                LAST_OPEN_RETRY)
        if in_row > self._max_retries:
            with self._cond:
                self._failed.append((self._round, delivery.number))
                self._cond.notify_all()

    def _open_recovered(self) -> None:
        with self._cond:
            in_row, self._open_failures_in_row = self._open_failures_in_row, 0
        _log.info("log files can be created in %s again, after %d failures over %.1f s",
                  self._files.directory.path, in_row, time.monotonic() - self._open_failing_since)

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
                self._failed.append((piece.round, piece.delivery.number))
                self._cond.notify_all()
                return
            self.bytes_written += piece.end - piece.start
            delivery = piece.delivery
            delivery.pieces_left -= 1
            if delivery.pieces_left:
                return
            if delivery.placed < delivery.end:
                self._wake()  # the scheduler places its next pieces
                return
            self.events_written += delivery.events
            if delivery.segment is not None:
                self._ring.release(delivery.segment)
            else:
                self._ring.release_line(delivery.end)
                self._oversized_unwritten -= 1
            self._completed.add(delivery.number)
            while self._written + 1 in self._completed:
                self._written += 1
                self._completed.remove(self._written)
            self._cond.notify_all()
