"""Log files: unique time-stamped names, safe creation, rotation by size and time."""

from __future__ import annotations

import collections
import logging
import os
import stat
import threading
from datetime import datetime, timezone
from typing import Callable, Deque, List, Optional, Set, Tuple

from ._closed_files import COMPRESSED_SUFFIXES, FileInUse, hold_for_writing
from ._directory import LogDirectory

_log = logging.getLogger("fastevlog")

ROTATE_PERIODS = {None: None, "hourly": 3600, "daily": 86400}

# Never reuse a file; LogDirectory.open adds: never follow a planted symlink, never leak the fd to a child.
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL


class LogFile:
    """One log file: the size handed out so far, what is written, and the pieces still to write."""

    __slots__ = ("path", "stamp", "fd", "size", "pending", "retired", "rotate_at", "written", "queue",
                 "writer_state")

    def __init__(self, path: str, stamp: str, fd: int, rotate_at: Optional[float]) -> None:
        self.path = path
        self.stamp = stamp  # the name is {log_file}_{stamp}.log
        self.fd = fd
        self.size = 0  # bytes assigned; equals the file's size once pending == 0
        self.pending = 0  # pieces assigned but not written yet
        self.retired = False  # rotated away from: closed once pending reaches 0
        self.rotate_at = rotate_at  # clock() time after which no more data goes here
        # The writer pool's side (see WriterPool): the file grows only as a
        # prefix, so readers of a live file never see a hole.
        self.written = 0  # bytes [0, written) are in the file
        self.queue: Deque = collections.deque()  # pieces waiting for a writer, by offset
        self.writer_state = 0  # IDLE, READY (queued for a writer) or WRITING (see _writer.py)


Placement = Tuple[LogFile, int, int, int]  # file, offset in it, start, end in the source


class LogFiles:
    """Gives every byte of the output a place in ``{log_file}_{YYYYMMDD_HHMMSS}.log`` files.

    place() is called from one thread at a time (the scheduler, or recovery
    before the scheduler starts); piece_done() from any writer thread.
    """

    def __init__(
        self,
        directory: LogDirectory,
        log_file: str,
        max_file_size: int,
        rotate_every: Optional[str],
        file_mode: int,
        clock: Callable[[], float],
    ) -> None:
        self.directory = directory
        self.log_file = log_file
        self.max_file_size = max_file_size
        self.period = ROTATE_PERIODS[rotate_every]
        self.file_mode = file_mode
        self.clock = clock
        self.files_created = 0
        self.rotations = 0
        self._current: Optional[LogFile] = None
        self._last_stamp = ""  # the second and suffix of the newest file's name
        self._last_suffix = -1
        self._open: Set[LogFile] = set()  # files whose fd is open
        self._lock = threading.Lock()  # guards pending/retired, closing and _open
        # Called after a file is closed (from the thread that closed it): the housekeeper's wake().
        self.file_closed: Callable[[], None] = lambda: None

    def place(self, source, start: int, end: int, most: Optional[int] = None) -> List[Placement]:
        """Where source[start:end] (whole lines) goes: one or more pieces, in order.

        ``source`` is anything with bytes-like find/rfind (a Mapping, bytes).  A
        file never grows past max_file_size, except to hold one line that is
        larger on its own.  With ``most``, at most that many pieces are placed
        (the last one's end says how far it got); the rest is placed by a later call.
        Raises OSError when a file is needed and cannot be created before any
        piece was placed; after one was, returns the pieces placed so far.
        """
        placements: List[Placement] = []
        while start < end and (most is None or len(placements) < most):
            try:
                file = self._current_file()
            except OSError:
                if not placements:
                    raise
                break  # what is placed goes ahead; the next call meets the error again
            room = self.max_file_size - file.size
            if end - start <= room:
                cut = end
            else:
                cut = source.rfind(b"\n", start, start + room) + 1
                if cut <= start:  # not one whole line fits in what is left
                    if file.size:
                        self._retire("size")
                        continue
                    cut = source.find(b"\n", start, end) + 1 or end  # an oversized line, alone
            with self._lock:
                file.pending += 1
            placements.append((file, file.size, start, cut))
            file.size += cut - start
            start = cut
            if file.size >= self.max_file_size:
                self._retire("size")
        return placements

    def piece_done(self, file: LogFile) -> None:
        """A piece placed in ``file`` is written; close the file when it was the last."""
        with self._lock:
            file.pending -= 1
            close = file.retired and file.pending == 0
            if close:
                self._open.discard(file)
        if close:
            _close(file)
            self.file_closed()

    def recreate_directory_if_removed(self) -> bool:
        """If the log directory was deleted, recreate it and leave the current file; True if it was.

        The current file went with the directory: what is placed there from
        now on would reach no reader.  Raises OSError when it cannot be recreated.
        """
        if not self.directory.removed():
            return False
        if self._current is not None:
            self._retire(None)
        self.directory.reopen_if_removed()
        return True

    def close(self) -> None:
        """Stop writing to the current file (all its pieces must be done)."""
        if self._current is not None:
            self._retire(None)

    def abandon(self) -> None:
        """In a forked child: close the inherited descriptors; the parent keeps writing those files.

        No lock: a thread holding it at the fork does not exist in the child.
        """
        for file in self._open:
            os.close(file.fd)
        self._open = set()
        self._current = None

    def _current_file(self) -> LogFile:
        file = self._current
        if file is not None and file.rotate_at is not None and self.clock() >= file.rotate_at:
            self._retire("time")
            file = None
        if file is None:
            file = self._current = self._open_new()
        return file

    def _retire(self, reason: Optional[str]) -> None:
        file = self._current
        assert file is not None
        self._current = None
        if reason is not None:
            self.rotations += 1
            _log.info("rotated %s (%s, %d bytes)", file.path, reason, file.size)
        with self._lock:
            file.retired = True
            close = file.pending == 0
            if close:
                self._open.discard(file)
        if close:
            _close(file)
            self.file_closed()

    def _open_new(self) -> LogFile:
        now = self.clock()
        stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%d_%H%M%S")
        # Same second, or another process: a zero-padded suffix keeps names
        # unique and still sorting in time order ("." < "_" puts the bare name first).
        # Within one second the names up to the last one used are taken: going
        # on from there keeps creating the Nth file of a second O(1), not O(N).
        suffix = self._last_suffix + 1 if stamp == self._last_stamp else 0
        while True:
            name_stamp = stamp if suffix == 0 else f"{stamp}_{suffix:06d}"
            name = self.name_of(name_stamp)
            if self._compressed(name):
                suffix += 1
                continue
            try:
                fd = self.directory.open(name, _CREATE_FLAGS, self.file_mode)
            except FileExistsError:
                try:
                    if stat.S_ISLNK(self.directory.stat(name).st_mode):
                        _log.error("refusing to write through the symlink %s; using another name",
                                   self.directory.join(name))
                except FileNotFoundError:
                    pass
                suffix += 1
                continue
            try:
                # Held while the file is open: no housekeeper compresses or deletes it meanwhile.
                hold_for_writing(fd, self.directory.join(name))
                break
            except FileInUse as error:
                os.close(fd)
                _log.error("%s; using another name", error)
                suffix += 1
        self._last_stamp, self._last_suffix = stamp, suffix
        path = self.directory.join(name)
        rotate_at = None
        if self.period:
            rotate_at = (now // self.period + 1) * self.period
        self.files_created += 1
        _log.info("opened %s", path)
        file = LogFile(path, name_stamp, fd, rotate_at)
        with self._lock:
            self._open.add(file)
        return file

    def _compressed(self, name: str) -> bool:
        """Whether name was used and compressed since (the clock went back, or a restart in its second).

        Its compressed copy must keep the name to itself: beside it, a new NAME.log would be read
        instead of it, and taken for a compression cut short.  Checked before creating: a copy
        appears only while the original still holds the name, so O_EXCL refuses it then.
        """
        return any(self.directory.exists(name + suffix) for suffix in COMPRESSED_SUFFIXES)

    def name_of(self, stamp: str) -> str:
        """The name of the log file with this stamp, in the directory."""
        return f"{self.log_file}_{stamp}.log"


def _close(file: LogFile) -> None:
    """Close a finished file; a failure is reported, not raised (the descriptor is gone either way)."""
    try:
        os.close(file.fd)
    except OSError as error:
        # On Linux close() frees the descriptor even when it fails; what failed
        # was writing back earlier data, which only an fsync could have caught.
        _log.error("closing %s failed (%s); its data may not all be on disk", file.path, error)
