"""Which log files no process will write again: the only ones compression and retention may touch.

Several processes may write one directory and log_file, each its own files,
and recovery may later write into a dead process's files.  A file is closed
when, holding an exclusive flock on it:

- no writer has it open: every writer (the logger's LogFiles, recovery) holds
  a shared flock on a log file for as long as it has it open for writing
  (hold_for_writing), so the exclusive lock is ours only once they are done;
- it is not empty: a new file is created before its creator can lock it, so
  an empty file may be one about to be written.  Its first byte is written
  only after the lock, so a file with bytes in it, locked by us, was let go;
- no buffer file records a piece for it: a dead process's pieces, recorded
  before they were written, are written into their file by the next recovery
  (_recovery.py).  A live process's buffer only names files it has open
  (locked) or has just closed (a segment not yet released): skipping those too
  only puts their turn off to the next pass;
- a shipper has acked all its bytes, if the directory is shipped (_ship_cursor.py).

A closed file stays closed: no one opens an old log file for writing but
recovery, and recovery only writes where a buffer file records a piece.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import re
import stat
import time
from typing import Dict, List, NamedTuple, Optional, Set

from . import _dead_buffer
from ._buffer_file import buffer_file_pattern
from ._directory import LogDirectory
from ._ship_cursor import unshipped

COMPRESSED_SUFFIXES = (".gz", ".zst")

# A shared lock is taken at once, unless a pass is checking a new, empty file
# this moment (it lets go at once) or someone holds the file against us.
_LOCK_TRIES = 200
_LOCK_RETRY_DELAY = 0.005


# Opening a log file's name failed because no regular file is there: gone, or a planted symlink or socket.
_NOT_A_FILE = {errno.ENOENT, errno.ELOOP, errno.ENXIO}


class FileInUse(OSError):
    """A log file that another process keeps locked: it cannot be written now."""


def hold_for_writing(fd: int, path: str) -> None:
    """Take the shared flock that marks a log file as written by us until fd is closed.

    Raises FileInUse when it stays locked exclusively for about a second
    (a planted lock holder; a compression pass holds an empty file only a moment).
    """
    for _ in range(_LOCK_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            time.sleep(_LOCK_RETRY_DELAY)
    raise FileInUse(errno.EWOULDBLOCK, "another process holds an exclusive lock on it", path)


def log_file_pattern(log_file: Optional[str]) -> re.Pattern[str]:
    """Names of log_file's files, compressed or not; groups: base, stamp, suffix ("", ".gz", ".zst").

    With log_file None, any base.
    """
    base = re.escape(log_file) if log_file is not None else ".+"
    return re.compile(rf"({base})_([0-9]{{8}}_[0-9]{{6}}(?:_[0-9]{{6,8}})?(?:_recovered_[0-9]+)?)\.log"
                      r"(|\.gz|\.zst)")


class LogicalFile(NamedTuple):
    """One log file, under its plain name or compressed, or both (a compression cut short)."""

    name: str  # NAME.log, whether or not it is there
    stamp: str
    forms: List[str]  # the names present: NAME.log first, then NAME.log.gz, NAME.log.zst


def list_log_files(directory: LogDirectory, log_file: Optional[str]) -> List[LogicalFile]:
    """log_file's files in the directory, oldest first (names sort in time order)."""
    pattern = log_file_pattern(log_file)
    found: Dict[str, LogicalFile] = {}
    for entry in directory.listdir():
        match = pattern.fullmatch(entry)
        if match is None:
            continue
        name = entry[:len(entry) - len(match.group(3))]
        file = found.get(name)
        if file is None:
            file = found[name] = LogicalFile(name, match.group(2), [])
        file.forms.append(entry)
    for file in found.values():
        file.forms.sort(key=len)  # NAME.log < NAME.log.gz < NAME.log.zst
    return [found[name] for name in sorted(found)]


def stamps_in_use(directory: LogDirectory, log_file: str) -> Optional[Set[str]]:
    """The stamps that any of log_file's buffer files records pieces for; None if one cannot be read.

    A buffer being created (all zeros so far) records nothing.  One whose
    header is not a buffer file's is reported as unreadable: until recovery
    sets it aside, no file can be known closed.
    """
    stamps: Set[str] = set()
    pattern = buffer_file_pattern(log_file)
    for name in directory.listdir():
        if not pattern.fullmatch(name):
            continue
        try:
            fd = directory.open(name, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as error:
            if error.errno in _NOT_A_FILE:
                continue  # recovered or stopped since the listing, or a planted symlink: no buffer
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue  # loggers make their buffers regular files: whatever this is, it records nothing
            found = _dead_buffer.recorded_stamps(functools.partial(_read, fd))
        except (OSError, ValueError):
            return None
        finally:
            os.close(fd)
        stamps |= found
    return stamps


def _read(fd: int, size: int, offset: int) -> bytes:
    return os.pread(fd, size, offset)


def is_recorded(stamp: str, in_use: Set[str]) -> bool:
    """Whether a file of this stamp may take a recorded piece (one moved aside: {stamp}_recovered_N)."""
    return stamp in in_use or stamp.partition("_recovered_")[0] in in_use


class Claim:
    """A closed plain log file, open read-only and locked exclusively until close()."""

    def __init__(self, directory: LogDirectory, file: LogicalFile, fd: int, found: os.stat_result) -> None:
        self.directory = directory
        self.file = file
        self.name = file.name
        self.stamp = file.stamp
        self.fd = fd
        self.stat = found

    def still_named(self) -> bool:
        """Whether the name still leads to the claimed file (not removed or replaced by hand)."""
        try:
            named = self.directory.stat(self.name)
        except FileNotFoundError:
            return False
        return (named.st_dev, named.st_ino) == (self.stat.st_dev, self.stat.st_ino)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # lets go of the lock
            self.fd = -1


def claim_closed(directory: LogDirectory, log_file: str, files: List[LogicalFile]) -> Optional[List[Claim]]:
    """The files whose plain form is closed, each locked exclusively; None if a buffer file is unreadable.

    The buffer files are read after the locks are taken: a process that
    recorded a piece for one of them and died after that is seen.  Files
    gone since the listing are left out.  Raises OSError when a file cannot
    be opened or locked for another reason; the claims taken are let go then.
    """
    claims: List[Claim] = []
    try:
        for file in files:
            if file.forms[0] == file.name:
                held = _lock(directory, file)
                if held is not None:
                    claims.append(held)
        in_use = stamps_in_use(directory, log_file) if claims else set()
    except OSError:
        for held in claims:
            held.close()
        raise
    if in_use is None:
        for held in claims:
            held.close()
        return None
    try:
        # Read after the locks too: the files hold no more bytes than the shipper may have acked.
        shipping = unshipped(directory, {held.name: held.stat.st_size for held in claims})
    except OSError:
        for held in claims:
            held.close()
        raise
    closed = []
    for held in claims:
        if is_recorded(held.stamp, in_use) or held.name in shipping:
            held.close()
        else:
            closed.append(held)
    return closed


def _lock(directory: LogDirectory, file: LogicalFile) -> Optional[Claim]:
    """file's plain form, open and locked exclusively, if it is a regular file with bytes; else None."""
    try:
        # O_NONBLOCK: a FIFO planted under the name must not block the open.
        fd = directory.open(file.name, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        if error.errno in _NOT_A_FILE or error.errno in (errno.EACCES, errno.EPERM):
            return None  # not a file, or not ours to touch
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        found = os.fstat(fd)  # sized under the lock: bytes in it mean its writer let go
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:
        os.close(fd)
        raise
    if found.st_size == 0:
        os.close(fd)
        return None
    return Claim(directory, file, fd, found)
