"""Retention: which closed log files to delete, oldest first, under keep_files, keep_bytes and keep_days."""

from __future__ import annotations

from typing import List, NamedTuple, Optional, Sequence

SECONDS_PER_DAY = 86400


class Retention(NamedTuple):
    """The limits; None is no limit.  Any combination: a file goes when it is past any of them."""

    keep_files: Optional[int] = None  # the newest N closed files stay
    keep_bytes: Optional[int] = None  # the newest closed files stay while their bytes on disk add up to N
    keep_days: Optional[float] = None  # closed files last written more than N days ago go

    def limits(self) -> bool:
        return any(limit is not None for limit in self)

    def too_old(self, file: ClosedFile, now: float) -> bool:
        """Whether file was last written more than keep_days ago."""
        return self.keep_days is not None and file.mtime < now - self.keep_days * SECONDS_PER_DAY


class ClosedFile(NamedTuple):
    name: str
    size: int  # bytes on disk: all its forms (a compression cut short leaves two)
    mtime: float  # when it was last written (a compressed copy keeps its original's time)


def expired(files: Sequence[ClosedFile], retention: Retention, now: float,
            by_bytes: bool = True) -> List[ClosedFile]:
    """The files past a limit, oldest first.  ``files`` are every closed file, oldest first.

    Files in use are not among them and count toward no limit: like the
    stdlib's backupCount, keep_files=N keeps N files besides those being written.
    With by_bytes False, keep_bytes is not applied (before compression shrinks them).
    """
    keep_files, keep_bytes, _ = retention
    going = []
    kept = kept_bytes = 0
    for file in reversed(files):
        if retention.too_old(file, now):
            going.append(file)  # takes no room from the newer files' limits
            continue
        kept += 1
        kept_bytes += file.size
        # Both sums only grow: once a file is past a limit, every older one is too.
        if ((keep_files is not None and kept > keep_files)
                or (by_bytes and keep_bytes is not None and kept_bytes > keep_bytes)):
            going.append(file)
    going.reverse()
    return going
