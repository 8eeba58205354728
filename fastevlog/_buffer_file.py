"""The buffer file: this process's memory-mapped ring, on disk beside its log files.

Lines logged but not yet written survive a crash of the process here;
_recovery.py replays the files of dead processes.  A live owner holds an
exclusive flock on its file, which is how recovery tells live from dead.
"""

from __future__ import annotations

import fcntl
import os
import re
from typing import List

from . import _core
from ._directory import LogDirectory

_CREATE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL  # LogDirectory.open adds O_NOFOLLOW | O_CLOEXEC


def buffer_file_pattern(log_file: str) -> re.Pattern[str]:
    """Names of the buffer files that belong to ``log_file``: {log_file}.{pid}-{n}.buffer."""
    return re.compile(re.escape(log_file) + r"\.\d+-\d+\.buffer")


def log_files_with_buffers(directory: LogDirectory) -> List[str]:
    """The log_file names that have buffer files in ``directory``."""
    found = (re.fullmatch(r"(.+)\.\d+-\d+\.buffer", name) for name in directory.listdir())
    return sorted({match.group(1) for match in found if match})


class BufferFile:
    """Created exclusively, allocated up front, locked and mapped."""

    def __init__(self, directory: LogDirectory, log_file: str, size: int, mode: int) -> None:
        n = 0
        while True:
            name = f"{log_file}.{os.getpid()}-{n}.buffer"
            try:
                fd = directory.open(name, _CREATE_FLAGS, mode)
            except FileExistsError:  # another logger of this process, or a planted file
                n += 1
                continue
            # Recovery may have locked it between open and here and seen an empty,
            # dead file; then the name no longer points at our file: start over.
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = directory.stat(name).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self.directory = directory
        self.name = name
        self.path = directory.join(name)  # for messages and users
        self._fd = fd
        try:
            # Reserve the disk blocks now: a sparse mapping hit by a full disk
            # would kill the process with SIGBUS on first touch instead.
            os.posix_fallocate(fd, 0, size)
            self.mapping = _core.Mapping(fd, size)
        except BaseException:
            self.close(remove=True)
            raise

    def abandon(self) -> None:
        """In a forked child: let go of the inherited mapping and descriptor, which stay the parent's.

        Both hold the parent's open file description, and with it the parent's
        lock: while either lives in the child, recovery takes a dead parent for
        alive.  The mapping's addresses stay valid (see Mapping.abandon).
        """
        self.mapping.abandon()
        os.close(self._fd)

    def close(self, remove: bool) -> None:
        """Unmap and close; ``remove`` once every line in it reached a log file."""
        try:
            mapping = getattr(self, "mapping", None)
            if mapping is not None:
                mapping.close()
        finally:
            if remove:
                self.directory.unlink(self.name)
            os.close(self._fd)  # releases the lock: a kept file is now recoverable
