"""The writer pool: threads that pwrite pieces of the buffer into log files, in order, with retries."""

from __future__ import annotations

import collections
import logging
import os
import sys
import threading
import time
import traceback
from typing import Callable, Deque, List

from ._rotation import LogFile

_log = logging.getLogger("fastevlog")


class Piece:
    """Bytes bound for one place in one log file."""

    __slots__ = ("delivery", "file", "offset", "source", "start", "end", "written", "round")

    def __init__(self, delivery, file: LogFile, offset: int, source: memoryview, start: int, end: int,
                 round: int) -> None:
        self.delivery = delivery  # what the scheduler tracks completion by
        self.file = file
        self.offset = offset
        # The bytes are source[start:end].  Slices are taken only around each
        # write, so the buffer file's mapping has no other views to close.
        self.source = source
        self.start = start
        self.end = end
        self.written = 0  # bytes already in the file, kept across retries
        self.round = round  # the scheduler's retry round this attempt belongs to


# done(piece, ok, retries, failures): called from a writer thread after each piece.
DoneCallback = Callable[[Piece, bool, int, int], None]

# LogFile.writer_state: no piece to write next (none queued, or the next one is
# not back from a failure yet); queued in _ready for a writer; being written.
IDLE, READY, WRITING = 0, 1, 2


class WriterPool:
    """num_workers threads writing pieces at their assigned offsets.

    A file grows only as a prefix of its final content: its pieces are
    written in offset order, by one writer at a time, so a reader of a live
    file (tail -F, a log shipper) never sees a hole.  The writers work on
    different files in parallel.  A piece that failed every retry goes back
    to the scheduler, which holds it for the next round; the file's later
    pieces wait for it, other files go on.

    A writer takes the queued pieces of one file (up to batch_bytes) and
    writes them, end to end as they are, with a single pwritev, GIL released:
    busy producers keep a writer waiting for the GIL after each write (the
    logger's own pwritev has them step aside, see Ring.pwritev), so
    fewer writes drain the ring faster.  Concurrent writes to one file would
    gain nothing anyway: the kernel serializes them on the file's lock.
    """

    def __init__(self, num_workers: int, max_retries: int, done: DoneCallback,
                 retry_delay: float = 0.01, batch_bytes: int = 8 * 1024 * 1024) -> None:
        self.max_retries = max_retries
        # Most bytes a worker takes at once: a piece's segment goes back to the
        # producers only when its write returns, so a batch holds back part of the ring.
        self.batch_bytes = batch_bytes
        self.retry_delay = retry_delay  # doubles on each retry of a piece
        # The one call that puts bytes in a file; tests swap it to inject faults.
        self.pwritev: Callable[[int, List[memoryview], int], int] = os.pwritev
        # Called with what happened when a writer thread ends on an unexpected
        # error (it has been reported); the scheduler marks the logger broken.
        self.died: Callable[[str], None] = lambda reason: None
        self._done = done
        self._lock = threading.Condition()  # guards _ready, _stopping and every file's queue and state
        self._ready: Deque[LogFile] = collections.deque()  # files whose next piece waits for a writer
        self._stopping = False
        self._threads: List[threading.Thread] = [
            threading.Thread(target=self._main, name=f"fastevlog-writer-{i}", daemon=True)
            for i in range(num_workers)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, piece: Piece) -> None:
        """Queue a piece behind the earlier pieces of its file (one back from a failure: before the rest)."""
        file = piece.file
        with self._lock:
            queue = file.queue
            if queue and queue[-1].offset > piece.offset:
                at = len(queue) - 1
                while at and queue[at - 1].offset > piece.offset:
                    at -= 1
                queue.insert(at, piece)
            else:
                queue.append(piece)
            if file.writer_state == IDLE:
                self._ready_if_next(file)

    def stop(self) -> None:
        """Write the pieces that can be written, then end the threads.

        Pieces waiting behind a held one stay unwritten (in the buffer file, for recovery).
        """
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        for thread in self._threads:
            thread.join()

    def _ready_if_next(self, file: LogFile) -> None:
        """Queue an idle file for a writer if its first queued piece continues what is written."""
        queue = file.queue
        if queue and queue[0].offset + queue[0].written == file.written:
            file.writer_state = READY
            self._ready.append(file)
            self._lock.notify()

    def _main(self) -> None:
        try:
            self._run()
        except BaseException:
            # The traceback as text only: a record holding the exception would
            # keep its frames, and so views of the buffer, alive.
            error = sys.exc_info()[1]
            reason = f"the writer thread {threading.current_thread().name} ended on " \
                     f"{type(error).__name__}: {error}"
            _log.critical("%s; nothing more is written by it:\n%s", reason, traceback.format_exc())
            del error
            self.died(reason)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._ready:
                    if self._stopping:
                        return
                    self._lock.wait()
                file = self._ready.popleft()
                file.writer_state = WRITING
                pieces = self._take(file)
            retries, failures = self._write(pieces)
            written = file.written
            for piece in pieces:  # the written prefix ends in the first piece not whole
                written = piece.offset + piece.written
                if piece.start + piece.written < piece.end:
                    break
            for piece in pieces:
                # The run's retries are counted once, on its first piece.
                self._done(piece, piece.start + piece.written == piece.end, retries, failures)
                retries = failures = 0
            with self._lock:
                file.written = written
                file.writer_state = IDLE
                self._ready_if_next(file)

    def _take(self, file: LogFile) -> List[Piece]:
        """The file's queued pieces that lie end to end from what is written, up to a batch."""
        queue = file.queue
        pieces: List[Piece] = []
        at = file.written
        size = 0
        while queue and len(pieces) < _MOST_BUFFERS and size < self.batch_bytes:
            piece = queue[0]
            if piece.offset + piece.written != at:
                break  # an earlier piece is not back from a failure yet
            queue.popleft()
            pieces.append(piece)
            at = piece.offset + piece.end - piece.start
            size += piece.end - piece.start - piece.written
        return pieces

    def _write(self, run: List[Piece]):
        """Write a run of pieces, whole unless a piece gives up; returns (retries made, failed attempts)."""
        failures = 0
        while True:
            try:
                while True:
                    left = [piece for piece in run if piece.start + piece.written < piece.end]
                    if not left:
                        return failures, failures  # every failure so far was followed by a retry
                    first = left[0]
                    views = [piece.source[piece.start + piece.written:piece.end] for piece in left]
                    try:
                        n = self.pwritev(first.file.fd, views, first.offset + first.written)
                    finally:
                        for view in views:
                            view.release()
                    if n <= 0:
                        raise OSError(f"pwritev wrote {n} bytes")
                    for piece in left:
                        taken = min(n, piece.end - piece.start - piece.written)
                        piece.written += taken
                        n -= taken
            except OSError as exception:
                # Log the text only: a kept record holding the exception would hold its
                # traceback, the frame, and so a view of the buffer that must be released.
                error = str(exception)
                failures += 1
                left = [piece for piece in run if piece.start + piece.written < piece.end]
                first = left[0]
                if failures > self.max_retries:
                    _log.critical(
                        "giving up on %d bytes for %s at offset %d after %d retries (%s); "
                        "the data is kept in the buffer and retried on the next flush",
                        sum(piece.end - piece.start - piece.written for piece in left), first.file.path,
                        first.offset + first.written, self.max_retries, error)
                    return self.max_retries, failures
                _log.error("write to %s failed (%s); retry %d of %d",
                           first.file.path, error, failures, self.max_retries)
                time.sleep(self.retry_delay * 2 ** (failures - 1))


# os.pwritev takes at most IOV_MAX buffers (1024 on Linux).
_MOST_BUFFERS = 512
