"""Recovery: write the lines left in buffer files of dead processes to log files.

A logger runs it before it starts (and ``fastevlog recover DIR`` on demand),
maybe in several processes at once; it may be killed, or find the disk full.
Every line still reaches the files exactly once:

- One recoverer per file: only the process holding a buffer file's flock
  works on it, and only while the name still leads to the file it locked.  A
  file that vanished or was replaced since the listing was finished by another
  process: that is no error.
- Write-ahead, as the logger does: before bytes go to a new file, their place
  is recorded in the segment's placement slots; once they are written, the
  segment's ``written`` mark moves past them.  Killed and run again, recovery
  finds those bytes recorded, compares them with what their file holds there
  and writes only what differs, instead of appending them again.
- Nothing in a buffer file is trusted (anyone who can write the directory can
  plant one).  Its reader checks it (_dead_buffer.py); a file it cannot
  read is renamed aside (quarantined) and reported, never deleted.  A recorded
  piece is written back only into a regular file of its recorded name, opened
  relative to the directory's descriptor, at an offset within that file; when
  its place cannot take it, it goes to a file named after that place (see
  _Replay._rewrite), so a rerun finds it there too.
- A buffer file is removed only once all its lines are in log files.  One that
  cannot be finished (an I/O error, a full disk) stays as it is, reported CRITICAL.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import stat
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Tuple

from . import _core, _dead_buffer
from ._buffer_file import buffer_file_pattern
from ._closed_files import hold_for_writing
from ._directory import LogDirectory
from ._rotation import LogFiles

_log = logging.getLogger("fastevlog")

# Bytes compared with the disk and written at a time, cut at a line end: bounds the memory a piece takes.
_CHUNK_BYTES = 1024 * 1024

# Errors opening a recorded log file that mean the file cannot take its piece back (the rest are I/O errors).
_UNUSABLE_ERRORS = {errno.ENOENT, errno.ELOOP, errno.EISDIR, errno.ENXIO, errno.EACCES, errno.EPERM}


@dataclass
class RecoveryReport:
    """What a recovery did."""

    events: int = 0  # lines it wrote that were not in their files yet
    failures: List[str] = field(default_factory=list)  # buffer files it could not recover completely, and why


def recover(files: LogFiles) -> int:
    """recover_buffer_files(files), for the logger: the number of events it wrote."""
    return recover_buffer_files(files).events


def recover_buffer_files(files: LogFiles) -> RecoveryReport:
    """Replay every dead buffer file of ``files.log_file`` in ``files.directory``.

    Each file's unwritten lines go to log files in the order they were logged:
    pieces that had a recorded place go there (completing a piece cut short;
    nothing is written where the bytes are already), the rest to new files.
    Then the file is removed.  Files whose owner still runs (it holds their
    lock) are left alone.  A file that cannot be recovered completely is kept
    (or set aside when unreadable) and reported, never raised: a logger's
    start goes on.
    """
    report = RecoveryReport()
    pattern = buffer_file_pattern(files.log_file)
    for name in sorted(files.directory.listdir()):
        if pattern.fullmatch(name):
            _recover_buffer_file(files, name, report)
    return report


def _recover_buffer_file(files: LogFiles, name: str, report: RecoveryReport) -> None:
    path = files.directory.join(name)
    try:
        fd = _lock_if_dead(files.directory, name)
    except OSError as error:
        _fail(report, logging.ERROR, f"cannot recover {path}: {error}; left alone")
        return
    if fd is None:
        return
    try:
        _recover_locked(files, name, fd, report)
    except OSError as error:
        # A piece that failed may have left a gap in the current log file: nothing more goes there.
        files.close()
        _fail(report, logging.CRITICAL, f"cannot finish recovering {path} ({error}); "
                                        "it is kept as it is for a later recovery")
    finally:
        os.close(fd)  # releases the lock


def _lock_if_dead(directory: LogDirectory, name: str) -> Optional[int]:
    """The buffer file, open and locked, if its process ended and no other recovery has it; else None.

    Raises OSError when the file cannot be opened or locked, or is no regular file.
    """
    path = directory.join(name)
    try:
        found = directory.stat(name)
        if not stat.S_ISREG(found.st_mode):
            raise OSError(f"it is {_kind(found.st_mode)}, not a regular file")
        # O_NONBLOCK: a FIFO swapped in since the stat must not block the open.
        fd = directory.open(name, os.O_RDWR | os.O_NONBLOCK)
    except FileNotFoundError:
        return None  # recovered by another process since the listing
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        ours = _still_named(directory, name, fd)
        if not ours:
            _log.debug("%s was recovered by another process meanwhile", path)
    except BlockingIOError:
        ours = False
        _log.debug("%s is in use: its process runs, or another process recovers it", path)
    except OSError:
        os.close(fd)
        raise
    if not ours:
        os.close(fd)
        return None
    return fd


def _still_named(directory: LogDirectory, name: str, fd: int) -> bool:
    """Whether ``name`` still leads to the regular file open as ``fd``."""
    held = os.fstat(fd)
    try:
        named = directory.stat(name)
    except FileNotFoundError:
        return False
    return (held.st_nlink > 0 and stat.S_ISREG(held.st_mode)
            and (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino))


def _recover_locked(files: LogFiles, name: str, fd: int, report: RecoveryReport) -> None:
    """Write out the buffer file open (and locked) as ``fd``, then remove it or set it aside."""
    directory = files.directory
    path = directory.join(name)
    size = os.fstat(fd).st_size
    if size == 0:
        _remove(directory, name, fd)  # created, but its process ended before sizing it
        return
    mapping = _core.Mapping(fd, size)
    try:
        try:
            buffer_file = _dead_buffer.DeadBufferFile(mapping)
            contents = buffer_file.read()
        except ValueError as error:
            _quarantine(directory, name, fd, f"{error} ({size:,} bytes kept)", report)
            return
        replay = _Replay(files, mapping, buffer_file)
        try:
            if contents.segments:
                # A planted file may be sparse: storing progress in its header must not fault on a full disk.
                os.posix_fallocate(fd, 0, min(contents.header_bytes, size))
            for segment in contents.segments:
                replay.segment(segment)
        finally:
            report.events += replay.events
            if replay.events:
                _log.warning("recovered %d events left in %s by a process that ended", replay.events, path)
    finally:
        mapping.close()
    if contents.problems:
        _quarantine(directory, name, fd, "; ".join(contents.problems), report)
    else:
        _remove(directory, name, fd)


class _Unusable(OSError):
    """A recorded place that cannot take its piece back: missing, not a regular file, too short."""


class _Replay:
    """Writes the unwritten lines of one locked, mapped buffer file to their log files."""

    def __init__(self, files: LogFiles, mapping: _core.Mapping,
                 buffer_file: _dead_buffer.DeadBufferFile) -> None:
        self.files = files
        self.directory = files.directory
        self.mapping = mapping
        self.buffer_file = buffer_file  # the mapping read as a buffer file, where progress is recorded
        self.events = 0  # lines written that were not in their files yet

    def segment(self, segment: _dead_buffer.SegmentToRecover) -> None:
        """Write the segment out a few pieces at a time; its ``written`` mark follows each batch."""
        written, recorded = segment.written, segment.placements
        while written < segment.end:
            if recorded:
                for piece in recorded:
                    self._rewrite(piece)
                written = recorded[-1].end
                recorded = []
            else:
                written = self._write_new(segment.number, written, segment.end)
            self.buffer_file.record_written(segment.number, written)

    def _write_new(self, index: int, start: int, end: int) -> int:
        """Place the next bytes of a segment in new log files, record that, then write; returns how far."""
        placed = self.files.place(self.mapping, start, end, most=_core.PLACEMENT_SLOTS)
        try:
            pieces = [(file.stamp, offset, first, last) for file, offset, first, last in placed]
            self.buffer_file.record_placements(index, pieces)
            for file, offset, first, last in placed:
                for chunk_start, chunk_end in self._chunks(first, last):
                    data = _bytes_of(self.mapping, chunk_start, chunk_end)
                    _write_all(file.fd, data, offset + chunk_start - first)
                    self.events += data.count(b"\n")
        finally:
            for file, *_ in placed:
                self.files.piece_done(file)
        return placed[-1][3]

    def _rewrite(self, piece: _dead_buffer.RecordedPiece) -> None:
        """Write a recorded piece where it belongs, unless it is there already.

        A place that cannot take it (the file is gone or is no regular file, or
        is shorter than the offset, so writing would leave a hole) sends it to
        ``{log_file}_{stamp}_recovered_{offset}.log``: a name that a rerun finds
        again, so the piece is never written to two new files.
        """
        moved = self.files.name_of(f"{piece.stamp}_recovered_{piece.offset}")
        if self.directory.exists(moved):  # an earlier recovery sent it there
            fd, offset = _open_place(self.directory, moved, 0), 0
        else:
            name = self.files.name_of(piece.stamp)
            try:
                fd, offset = _open_place(self.directory, name, piece.offset), piece.offset
            except _Unusable as why:
                _log.error("%d bytes recorded for %s at offset %d cannot go there (%s); writing them to %s",
                           piece.end - piece.start, self.directory.join(name), piece.offset, why.strerror,
                           self.directory.join(moved))
                fd, offset = _create_place(self.directory, moved, self.files.file_mode), 0
        try:
            for chunk_start, chunk_end in self._chunks(piece.start, piece.end):
                self.events += _write_missing(fd, _bytes_of(self.mapping, chunk_start, chunk_end),
                                              offset + chunk_start - piece.start)
        finally:
            os.close(fd)

    def _chunks(self, start: int, end: int) -> Iterator[Tuple[int, int]]:
        """[start, end) in runs of whole lines of about _CHUNK_BYTES (a longer line is a run of its own)."""
        while start < end:
            cut = end
            if end - start > _CHUNK_BYTES:
                cut = self.mapping.find(b"\n", start + _CHUNK_BYTES - 1, end) + 1 or end
            yield start, cut
            start = cut


def _open_place(directory: LogDirectory, name: str, offset: int) -> int:
    """The regular file ``name``, open to read and write, holding at least ``offset`` bytes.

    Raises _Unusable when it cannot take a piece at ``offset``; other OSErrors are I/O errors.
    """
    path = directory.join(name)
    try:
        found = directory.stat(name)  # before opening: a device or FIFO is never opened at all
    except FileNotFoundError:
        raise _Unusable(errno.ENOENT, "it does not exist", path) from None
    if not stat.S_ISREG(found.st_mode):
        raise _Unusable(errno.EINVAL, f"it is not a regular file ({_kind(found.st_mode)})", path)
    try:
        fd = directory.open(name, os.O_RDWR | os.O_NONBLOCK)
    except OSError as error:
        if error.errno in _UNUSABLE_ERRORS:
            raise _Unusable(error.errno, error.strerror, path) from None
        raise
    try:
        hold_for_writing(fd, path)  # as every writer does: no housekeeper takes it meanwhile
    except OSError:
        os.close(fd)
        raise
    opened = os.fstat(fd)
    if (opened.st_dev, opened.st_ino) != (found.st_dev, found.st_ino):
        os.close(fd)
        raise _Unusable(errno.EINVAL, "it was replaced while being opened", path)
    if opened.st_size < offset:
        os.close(fd)
        raise _Unusable(errno.EINVAL, f"it holds {opened.st_size:,} bytes: writing at offset {offset:,} "
                                      "would leave a hole", path)
    return fd


def _create_place(directory: LogDirectory, name: str, mode: int) -> int:
    fd = directory.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)
    try:
        hold_for_writing(fd, directory.join(name))
    except OSError:
        os.close(fd)
        raise
    return fd


def _write_missing(fd: int, data: bytes, offset: int) -> int:
    """Write data at offset unless the file holds it there already; returns the lines it did not hold."""
    on_disk = os.pread(fd, len(data), offset)
    if on_disk == data:
        return 0
    missing = _lines_differing(data, on_disk)
    _write_all(fd, data, offset)
    return missing


def _lines_differing(data: bytes, on_disk: bytes) -> int:
    """Lines of data whose bytes on_disk (read at the same place) does not hold."""
    within = data.rfind(b"\n", 0, len(on_disk)) + 1  # the lines that end where on_disk has bytes
    differing = data.count(b"\n", within)  # the others: past the end of the file
    if data[:within] == on_disk[:within]:  # the usual case, a piece cut short: no line-by-line look
        return differing
    start = 0
    while start < within:
        end = data.find(b"\n", start) + 1
        differing += on_disk[start:end] != data[start:end]
        start = end
    return differing


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        if n <= 0:
            raise OSError(errno.EIO, f"pwrite wrote {n} bytes")
        view = view[n:]
        offset += n


def _bytes_of(mapping: _core.Mapping, start: int, end: int) -> bytes:
    """A copy of mapping[start:end]; no view of the mapping outlives the call, so it can always be closed."""
    with memoryview(mapping) as whole, whole[start:end] as part:
        return bytes(part)


def _remove(directory: LogDirectory, name: str, fd: int) -> None:
    if _still_named(directory, name, fd):
        directory.unlink(name)


def _quarantine(directory: LogDirectory, name: str, fd: int, reason: str, report: RecoveryReport) -> None:
    """Rename the buffer file aside (no longer a buffer file's name) and report why; it is never deleted."""
    path = directory.join(name)
    if not _still_named(directory, name, fd):
        return
    for n in range(1000):
        aside = f"{name}.quarantined" + (f".{n}" if n else "")
        if not directory.exists(aside):
            directory.rename(name, aside)
            _fail(report, logging.ERROR, f"cannot recover all of {path}: {reason}; "
                                         f"set aside as {directory.join(aside)}")
            return
    _fail(report, logging.ERROR, f"cannot recover all of {path}: {reason}; left as it is")


def _fail(report: RecoveryReport, level: int, message: str) -> None:
    _log.log(level, "%s", message)
    report.failures.append(message)


def _kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISLNK, "a symlink"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return f"mode {mode:o}"
