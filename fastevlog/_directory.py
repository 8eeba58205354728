"""The log directory: opened once; every file in it is opened relative to that descriptor.

Anyone who can write the directory can plant files and symlinks in it.  Names
given to open() here are single plain components, opened with O_NOFOLLOW
relative to the directory's descriptor, so no planted symlink (not even one
standing in for a path component) can lead a write outside the directory.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from typing import List

_log = logging.getLogger("fastevlog")

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def directory_mode(file_mode: int) -> int:
    """The mode of directories created for files of ``file_mode``: x added wherever r is."""
    return file_mode | (file_mode & 0o444) >> 2


def check_plain_name(name: str) -> None:
    """Raise ValueError unless ``name`` is one path component that can be a file name."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ValueError(f"not a plain file name: {name!r}")


class LogDirectory:
    """A directory held open by descriptor; created (with parents) if missing."""

    def __init__(self, path: str, file_mode: int) -> None:
        self.path = path
        self.mode = directory_mode(file_mode)
        self._lock = threading.Lock()  # guards replacing fd after the directory was removed
        self.fd = self._open()

    def _open(self) -> int:
        _make_directories(self.path, self.mode)
        fd = os.open(self.path, _DIRECTORY_FLAGS)
        if not stat.S_ISDIR(os.fstat(fd).st_mode):  # O_DIRECTORY makes this impossible; kept for clarity
            os.close(fd)
            raise NotADirectoryError(self.path)
        return fd

    def join(self, name: str) -> str:
        """The path of ``name``, for messages and for users; never opened by path here."""
        return os.path.join(self.path, name)

    def open(self, name: str, flags: int, mode: int = 0o600) -> int:
        """os.open of a plain name in the directory, never following a symlink."""
        check_plain_name(name)
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=self.fd)

    def stat(self, name: str) -> os.stat_result:
        check_plain_name(name)
        return os.stat(name, dir_fd=self.fd, follow_symlinks=False)

    def exists(self, name: str) -> bool:
        """Whether anything (a symlink included) is at name."""
        try:
            self.stat(name)
        except FileNotFoundError:
            return False
        return True

    def unlink(self, name: str) -> None:
        check_plain_name(name)
        os.unlink(name, dir_fd=self.fd)

    def rename(self, source: str, target: str) -> None:
        check_plain_name(source)
        check_plain_name(target)
        os.rename(source, target, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def listdir(self) -> List[str]:
        return os.listdir(self.fd)

    def removed(self) -> bool:
        """Whether the directory was deleted since it was opened (its descriptor outlives it)."""
        return os.fstat(self.fd).st_nlink == 0

    def reopen_if_removed(self) -> bool:
        """Recreate and reopen the directory if it was deleted; True if it was."""
        with self._lock:
            if not self.removed():
                return False
            fd = self._open()
            old, self.fd = self.fd, fd
            os.close(old)
        _log.error("the log directory %s was removed; created it again", self.path)
        return True

    def close(self) -> None:
        with self._lock:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1


def _make_directories(path: str, mode: int) -> None:
    """os.makedirs, but every directory it creates gets ``mode`` (makedirs gives parents 0o777)."""
    missing = []
    head = os.path.abspath(path)
    while not os.path.isdir(head):
        missing.append(head)
        parent = os.path.dirname(head)
        if parent == head:
            break
        head = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise
