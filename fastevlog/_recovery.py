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
    filled, then the buffer file is removed.  Files whose owner still runs
    (it holds their lock) are left alone.  Returns the number of events recovered.
    """
    pattern = buffer_file_pattern(files.log_file)
    recovered = 0
    for name in sorted(os.listdir(files.directory)):
        if pattern.fullmatch(name):
            recovered += _recover_one(os.path.join(files.directory, name), files)
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
                    for start, end, count in segments:
                        for file, offset, piece_start, piece_end in files.place(mapping, start, end):
                            _write_all(file.fd, view[piece_start:piece_end], offset)
                            files.piece_done(file)
                        events += count
        os.unlink(path)
        if events:
            _log.warning("recovered %d events left in %s by a process that ended", events, path)
        return events
    finally:
        os.close(fd)


def _write_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        n = os.pwrite(fd, data, offset)
        data = data[n:]
        offset += n
