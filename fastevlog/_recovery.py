"""Recovery: write the lines left in buffer files of dead processes to log files."""

from __future__ import annotations

import fcntl
import logging
import mmap
import os

from . import _core
from ._buffer_file import buffer_file_pattern
from ._rotation import LogFiles

_log = logging.getLogger("fastevlog")


def recover(files: LogFiles) -> int:
    """Replay every dead buffer file of ``files.log_file`` in ``files.directory``.

    Each file's unwritten segments go to log files in the order they were
    filled: pieces that had been given a place are written there again (which
    completes a piece cut short and changes nothing for one already written),
    the rest goes to new files.  Then the buffer file is removed.  Files whose owner still runs
    (it holds their lock) are left alone.  Returns the number of events recovered.
    """
    pattern = buffer_file_pattern(files.log_file)
    recovered = 0
    for name in sorted(files.directory.listdir()):
        if pattern.fullmatch(name):
            recovered += _recover_one(files.directory.join(name), files)
    return recovered


def _recover_one(path: str, files: LogFiles) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        _log.error("cannot open buffer file %s for recovery: %s", path, error)
        return 0
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # its process is alive
        size = os.fstat(fd).st_size
        events = 0
        if size:
            with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as mapping:
                try:
                    segments = _core.read_buffer_file(mapping)
                except ValueError as error:
                    _log.error("leaving %s alone: %s", path, error)
                    return 0
                with memoryview(mapping) as view:
                    for start, end, count, placements in segments:
                        placed_up_to = start
                        for stamp, offset, piece_start, piece_end in placements:
                            log_path = files.directory.join(files.name_of(stamp))
                            if not _rewrite(log_path, view[piece_start:piece_end], offset):
                                _write_new(files, mapping, view, piece_start, piece_end)
                            placed_up_to = piece_end
                        _write_new(files, mapping, view, placed_up_to, end)
                        events += count
        os.unlink(path)
        if events:
            _log.warning("recovered %d events left in %s by a process that ended", events, path)
        return events
    finally:
        os.close(fd)


def _rewrite(path: str, data: memoryview, offset: int) -> bool:
    """Write data at offset of an existing log file; False if the file is gone."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError as error:  # e.g. a symlink planted there since
        _log.error("cannot reopen %s for recovery (%s); its piece goes to a new file", path, error)
        return False
    try:
        _write_all(fd, data, offset)
    finally:
        os.close(fd)
    return True


def _write_new(files: LogFiles, mapping, view: memoryview, start: int, end: int) -> None:
    """Bytes [start, end) of the buffer file, placed in new log files."""
    for file, offset, piece_start, piece_end in files.place(mapping, start, end):
        _write_all(file.fd, view[piece_start:piece_end], offset)
        files.piece_done(file)


def _write_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        n = os.pwrite(fd, data, offset)
        data = data[n:]
        offset += n
