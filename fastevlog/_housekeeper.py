"""The housekeeper: a background thread that compresses closed log files and deletes the expired ones.

It never runs in log() and never holds the writers: it reads files the
writers are done with, on a thread of its own at a lower priority, and zlib
and zstandard release the GIL while they compress.  The logger wakes it when
it closes a file; it also looks every PERIOD seconds, for other processes'
files and for files growing old.  stop() does not wait for a compression: it
is given up at the next chunk, and the next start (or ``fastevlog compress``)
does it again.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Callable, List, Optional

from ._closed_files import Claim, LogicalFile, claim_closed, list_log_files
from ._compression import Compressor, Stopped, finish_compressions, settle_compressed
from ._directory import LogDirectory
from ._priority import lower_priority
from ._retention import ClosedFile, Retention, expired

_log = logging.getLogger("fastevlog")

PERIOD = 30.0  # seconds between passes when nothing wakes the thread
SETTLE = 0.1  # after a wake: the segment that ended in the closed file is released meanwhile
FIRST_RETRY, LAST_RETRY = 1.0, 60.0  # after a failure, doubling
# Compressed files whose originals wait for one fsync of the directory (more: both forms exist longer).
_SETTLE_AT_ONCE = 16
_CLAIMS_AT_ONCE = 256  # files held locked at once while finding which are closed: bounds the descriptors


@dataclass
class HousekeepingReport:
    """What the housekeeping did so far."""

    files_compressed: int = 0
    files_deleted: int = 0
    bytes_deleted: int = 0
    compress_failures: int = 0


class Housekeeping:
    """Passes over one directory's log_file files: retention, then compression, then retention by bytes."""

    def __init__(self, directory: LogDirectory, log_file: str, compressor: Optional[Compressor],
                 retention: Retention, clock: Callable[[], float]) -> None:
        self.directory = directory
        self.log_file = log_file
        self.compressor = compressor
        self.retention = retention
        self.clock = clock
        self.report = HousekeepingReport()
        self.stopping: Callable[[], bool] = lambda: False
        self._claims: List[Claim] = []  # held now; a forked child lets go of its copies

    def run(self) -> bool:
        """One pass; False if a compression failed (it is tried again on a later pass)."""
        ok = True
        tried = set()
        renamed: List[Claim] = []  # compressed, their originals to remove after one directory fsync
        try:
            while not self.stopping():
                # Before each compression: files that retention deletes are never compressed, and a
                # backlog of compressions does not hold retention back.
                if self.retention.limits():
                    self._settle(renamed)
                    self._delete(expired(self._closed_files(), self.retention, self.clock(), by_bytes=False))
                if self.compressor is None:
                    break
                waiting = [file for file in list_log_files(self.directory, self.log_file)
                           if file.forms[0] == file.name and file.name not in tried]
                if not waiting:
                    break
                tried.add(waiting[0].name)
                ok = self._compress(waiting[0], renamed) and ok
                if len(renamed) >= _SETTLE_AT_ONCE:
                    self._settle(renamed)
        finally:
            self._settle(renamed)
        if self.retention.keep_bytes is not None and not self.stopping():
            self._delete(expired(self._closed_files(), self.retention, self.clock()))
        return ok

    def retain(self) -> None:
        """Retention alone, quick (deleting, not compressing): a stopping logger's last pass.

        keep_bytes waits for compression when there is one to do: files not
        compressed yet would count for more than they will take.
        """
        if self.retention.limits():
            self._delete(expired(self._closed_files(), self.retention, self.clock(),
                                 by_bytes=self.compressor is None))

    def abandon(self) -> None:
        """In a forked child: close the inherited descriptors of the files held (the parent's locks stay)."""
        for held in self._claims:
            held.close()
        self._claims = []

    def _closed_files(self) -> List[ClosedFile]:
        """The closed files, oldest first, with their sizes on disk and times."""
        files = list_log_files(self.directory, self.log_file)
        closed = set()
        for at in range(0, len(files), _CLAIMS_AT_ONCE):
            for held in self._claim(files[at:at + _CLAIMS_AT_ONCE]):
                closed.add(held.name)
                self._let_go(held)
        found = []
        for file in files:
            if file.forms[0] == file.name and file.name not in closed:
                continue  # in use, or empty, or to be recovered
            size, mtime = 0, 0.0
            for form in file.forms:
                try:
                    stat = self.directory.stat(form)
                except FileNotFoundError:
                    continue  # compressed or deleted since the listing
                size += stat.st_size
                mtime = max(mtime, stat.st_mtime)
            found.append(ClosedFile(file.name, size, mtime))
        return found

    def _claim(self, files: List[LogicalFile]) -> List[Claim]:
        claims = claim_closed(self.directory, self.log_file, files) or []
        self._claims.extend(claims)
        return claims

    def _let_go(self, held: Claim) -> None:
        self._claims.remove(held)
        held.close()

    def _delete(self, files: List[ClosedFile]) -> None:
        if not files:
            return
        listed = {file.name: file for file in list_log_files(self.directory, self.log_file)}
        for going in files:
            file = listed.get(going.name)
            if file is None:
                continue  # removed by hand, or by another process's retention
            held = None
            if file.forms[0] == file.name:
                claims = self._claim([file])
                if not claims:
                    continue
                held = claims[0]
            try:
                deleted, removed = 0, []
                for form in reversed(file.forms):  # the original last: never a lone half of a pair
                    try:
                        size = self.directory.stat(form).st_size
                        if held is not None and form == held.name and not held.still_named():
                            continue
                        self.directory.unlink(form)
                    except FileNotFoundError:
                        continue
                    deleted += size
                    removed.append(form)
            except OSError as error:
                _log.error("cannot delete %s (%s); trying again on a later pass",
                           self.directory.join(file.forms[-1]), error)
                continue
            finally:
                if held is not None:
                    self._let_go(held)
            if removed:
                self.report.files_deleted += 1
                self.report.bytes_deleted += deleted
                _log.info("deleted %s (%d bytes): %s", ", ".join(map(self.directory.join, removed)), deleted,
                          self._why(going))

    def _why(self, file: ClosedFile) -> str:
        keep_files, keep_bytes, keep_days = self.retention
        if self.retention.too_old(file, self.clock()):
            return f"last written more than keep_days={keep_days:g} days ago"
        limits = [f"{name}={value:_}" for name, value in (("keep_files", keep_files),
                                                          ("keep_bytes", keep_bytes)) if value is not None]
        return "older than what " + " and ".join(limits) + " keep"

    def _compress(self, file: LogicalFile, renamed: List[Claim]) -> bool:
        """Compress file, leaving its original to _settle (in ``renamed``); False if it failed."""
        assert self.compressor is not None
        claims = self._claim([file])
        if not claims:
            return True  # in use, empty, or to be recovered: a later pass
        held = claims[0]
        try:
            size = self.compressor.compress(self.directory, held, self.stopping, settle=False)
        except Stopped:
            self._let_go(held)
            _log.info("stopped compressing %s; the next start compresses it", self.directory.join(file.name))
            return True
        except OSError as error:
            self._let_go(held)
            self.report.compress_failures += 1
            _log.error("cannot compress %s (%s); it is kept as it is and tried again later",
                       self.directory.join(file.name), error)
            return False
        if size is None:  # removed by hand meanwhile
            self._let_go(held)
            return True
        if self.directory.exists(held.name):
            renamed.append(held)
        else:  # a compression cut short was finished: the original is gone already
            self._let_go(held)
        self.report.files_compressed += 1
        _log.info("compressed %s (%d -> %d bytes)", self.directory.join(file.name), held.stat.st_size, size)
        return True

    def _settle(self, renamed: List[Claim]) -> None:
        """Remove the originals of what was compressed, after one fsync of the directory."""
        if not renamed:
            return
        try:
            settle_compressed(self.directory, renamed)
        except OSError as error:
            # Each copy is whole and renamed: the next pass or start removes the original beside it.
            _log.error("cannot finish compressing %s (%s); the originals stay beside their copies until "
                       "a later pass", ", ".join(self.directory.join(held.name) for held in renamed), error)
        finally:
            for held in renamed:
                self._let_go(held)
            renamed.clear()


class Housekeeper:
    """The thread that runs a Housekeeping's passes: at start, when woken, every PERIOD seconds."""

    def __init__(self, housekeeping: Housekeeping) -> None:
        self.housekeeping = housekeeping
        housekeeping.stopping = self._stopping_now
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="fastevlog-housekeeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """A file was closed: a pass soon."""
        self._wake.set()

    def stop(self) -> None:
        """End the thread; a compression under way is given up (its original stays)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def abandon(self) -> None:
        """In a forked child: the thread did not survive the fork; close the descriptors it held."""
        self.housekeeping.abandon()

    def _stopping_now(self) -> bool:
        return self._stop.is_set()

    def _main(self) -> None:
        lower_priority()
        retry = FIRST_RETRY
        while not self._stop.is_set():
            try:
                ok = self.housekeeping.run()
            except Exception:  # never let the thread die: the next pass may succeed
                # The traceback as text only, as the writers do.
                error = sys.exc_info()[1]
                _log.error("a housekeeping pass over %s failed (%s: %s); trying again in %g s:\n%s",
                           self.housekeeping.directory.path, type(error).__name__, error, retry,
                           traceback.format_exc())
                del error
                ok = False
            if ok:
                retry = FIRST_RETRY
                woken = self._wake.wait(PERIOD)
            else:
                woken = self._wake.wait(retry)
                retry = min(retry * 2, LAST_RETRY)
            if woken and not self._stop.is_set():
                time.sleep(SETTLE)
            self._wake.clear()


def housekeep(directory: str, log_file: str = "async_buffered_logs", compress: Optional[str] = None,
              compress_level: Optional[int] = None, keep_files: Optional[int] = None,
              keep_bytes: Optional[int] = None, keep_days: Optional[float] = None,
              clock: Callable[[], float] = time.time) -> HousekeepingReport:
    """One pass over an existing directory, for ``fastevlog compress``: leftovers, retention, compression."""
    opened = LogDirectory(directory, 0o640)
    try:
        compressor = Compressor(compress, compress_level) if compress is not None else None
        retention = Retention(keep_files, keep_bytes, keep_days)
        housekeeping = Housekeeping(opened, log_file, compressor, retention, clock)
        housekeeping.report.files_compressed += finish_compressions(opened, log_file)
        housekeeping.run()
        return housekeeping.report
    finally:
        opened.close()
