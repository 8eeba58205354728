"""The writer pool: threads that pwrite pieces of the buffer into log files, with retries."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Callable, List, Optional

from ._rotation import LogFile

_log = logging.getLogger("fastevlog")


class Piece:
    """Bytes bound for one place in one log file."""

    __slots__ = ("chunk", "file", "offset", "source", "start", "end", "written", "round")

    def __init__(self, chunk, file: LogFile, offset: int, source: memoryview, start: int, end: int,
                 round: int) -> None:
        self.chunk = chunk  # what the scheduler tracks completion by
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


class WriterPool:
    """num_workers threads writing pieces at their assigned offsets.

    Pieces for one file may be written in any order and in parallel: each has
    its own offset, so the file ends up in the order the scheduler assigned.
    A worker takes the pieces queued when it wakes (up to batch_bytes) and
    writes each run of them that lies end to end in one file with a single
    pwritev, GIL released: busy producers keep a writer waiting for the GIL
    after each write (the logger's own pwritev has them step aside, see
    EventBuffer._pwritev), so fewer writes drain the ring faster.
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
        self._done = done
        self._jobs: queue.SimpleQueue[Optional[Piece]] = queue.SimpleQueue()
        self._threads: List[threading.Thread] = [
            threading.Thread(target=self._run, name=f"fastevlog-writer-{i}", daemon=True)
            for i in range(num_workers)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, piece: Piece) -> None:
        self._jobs.put(piece)

    def stop(self) -> None:
        """Finish the queued pieces, then end the threads."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()

    def _run(self) -> None:
        while True:
            piece = self._jobs.get()
            if piece is None:
                return
            pieces = [piece]
            size = piece.end - piece.start
            stopping = False
            while len(pieces) < _MOST_BUFFERS and size < self.batch_bytes:
                try:
                    piece = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if piece is None:
                    stopping = True
                    break
                pieces.append(piece)
                size += piece.end - piece.start
            for run in _runs(pieces):
                retries, failures = self._write(run)
                for piece in run:
                    # The run's retries are counted once, on its first piece.
                    whole = piece.start + piece.written == piece.end
                    self._done(piece, whole, retries, failures)
                    retries = failures = 0
            if stopping:
                return

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


def _runs(pieces: List[Piece]) -> List[List[Piece]]:
    """pieces, in order, grouped into runs that lie end to end in one file."""
    runs: List[List[Piece]] = []
    for piece in pieces:
        if runs:
            last = runs[-1][-1]
            if (piece.file is last.file and piece.written == 0
                    and piece.offset == last.offset + last.end - last.start):
                runs[-1].append(piece)
                continue
        runs.append([piece])
    return runs
