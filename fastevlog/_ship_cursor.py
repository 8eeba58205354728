"""How far each log file of a directory is shipped: the shipper's cursor, kept in the directory itself.

The cursor of (directory, stream) is ``.fastevlog-ship-{stream}.json``: for
each plain log file, the offset up to which the stream acknowledged its
bytes.  It is replaced whole (a temporary, fsync, rename), so a crash leaves
the old cursor or the new one, never a torn one; an old one only makes the
next shipper publish some chunks again, under the same ids.

One shipper at a time ships a (directory, stream): it holds an exclusive
flock on ``.fastevlog-ship-{stream}.lock``; others wait for it to let go
(a process that dies lets go with it).

Compression and retention must not take a file from the shipper before its
bytes are all acked: unshipped() tells them which, from every cursor in the
directory.  A cursor left by a shipper that will never run again holds its
files forever: delete the cursor file to let them go.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import stat
from typing import Dict, Optional, Set

from ._directory import LogDirectory

_log = logging.getLogger("fastevlog")

_PREFIX = ".fastevlog-ship-"
_CURSOR = re.compile(re.escape(_PREFIX) + r"(.+)\.json")
_VERSION = 1
_MAX_CURSOR_BYTES = 64 * 1024 * 1024  # a cursor of a million files is ~60 MB; a bigger one is not ours


def cursor_name(stream: str) -> str:
    return f"{_PREFIX}{stream}.json"


def lock_name(stream: str) -> str:
    return f"{_PREFIX}{stream}.lock"


class ShipCursor:
    """The acked offsets of one directory's files for one stream, and the lock that makes us its shipper."""

    def __init__(self, directory: LogDirectory, stream: str) -> None:
        self.directory = directory
        self.name = cursor_name(stream)
        self._lock_name = lock_name(stream)
        self._lock_fd = -1

    def take(self) -> bool:
        """Become the directory's shipper for this stream, if no live process is; True if we are."""
        if self._lock_fd >= 0:
            return True
        fd = self.directory.open(self._lock_name, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._lock_fd = fd
        return True

    def let_go(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def abandon(self) -> None:
        """In a forked child: close the inherited descriptor; the parent's lock stays (same open file)."""
        self.let_go()

    def load(self) -> Dict[str, int]:
        """The acked offsets saved last; empty without a cursor (or with an unreadable one: a warning)."""
        files = read_cursor(self.directory, self.name)
        return {} if files is None else files

    def save(self, files: Dict[str, int]) -> None:
        """Replace the cursor with files' offsets, durably."""
        temporary = self.name + ".tmp"
        data = json.dumps({"version": _VERSION, "files": files}, separators=(",", ":")).encode()
        try:
            self.directory.unlink(temporary)  # one a crash left, or a planted symlink O_NOFOLLOW would refuse
        except FileNotFoundError:
            pass
        fd = self.directory.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        self.directory.rename(temporary, self.name)


def read_cursor(directory: LogDirectory, name: str) -> Optional[Dict[str, int]]:
    """A cursor file's offsets; None when it is gone, or is not a cursor we wrote (logged)."""
    try:
        fd = directory.open(name, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ELOOP, errno.ENXIO):
            return None
        raise
    try:
        data = os.read(fd, _MAX_CURSOR_BYTES + 1) if _is_regular(fd) else b""
    finally:
        os.close(fd)
    try:
        parsed = json.loads(data) if len(data) <= _MAX_CURSOR_BYTES else None
        files = parsed["files"] if isinstance(parsed, dict) and parsed.get("version") == _VERSION else None
        if isinstance(files, dict) and all(isinstance(name, str) and type(offset) is int and offset >= 0
                                           for name, offset in files.items()):
            return files
    except ValueError:
        pass
    _log.warning("%s is not a shipping cursor fastevlog wrote; its files are shipped again from the start",
                 directory.join(name))
    return None


def _is_regular(fd: int) -> bool:
    return stat.S_ISREG(os.fstat(fd).st_mode)


def unshipped(directory: LogDirectory, sizes: Dict[str, int]) -> Set[str]:
    """The files among sizes (plain name -> size) whose bytes some cursor of the directory has not all acked.

    With no cursor in the directory nothing is shipped and nothing is held.
    A cursor that cannot be read holds every file: we cannot tell what it shipped.
    """
    held: Set[str] = set()
    for entry in directory.listdir():
        if not _CURSOR.fullmatch(entry):
            continue
        try:
            files = read_cursor(directory, entry)
        except OSError:
            files = None
        if files is None:
            if directory.exists(entry):
                return set(sizes)
            continue
        held.update(name for name, size in sizes.items() if files.get(name, 0) < size)
    return held
