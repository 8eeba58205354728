"""EventLogCounter: the logger users hold, wiring the buffer to the scheduler and the files."""

from __future__ import annotations

import errno
import logging
import numbers
import operator
import os
import sys
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Callable, Dict, Literal, Optional, Union

from . import _core
from ._buffer_file import BufferFile
from ._compression import KINDS, LEVELS, Compressor, finish_compressions
from ._directory import LogDirectory
from ._errors import WriteError
from ._housekeeper import Housekeeper, Housekeeping
from ._nats import import_nats
from ._recovery import recover
from ._retention import Retention
from ._rotation import ROTATE_PERIODS, LogFiles
from ._scheduler import FlushScheduler
from ._ship_config import NatsShipper, ShipReport
from ._signals import install_sigterm_handler

if TYPE_CHECKING:
    from ._core import Level
    from ._shipper import Shipper

_log = logging.getLogger("fastevlog")

# on_full and rotate_every as the type checker sees them: a misspelt policy is an error in the editor.
OnFull = Literal["block", "drop"]
RotateEvery = Optional[Literal["hourly", "daily"]]
Compress = Optional[Literal["gzip", "zstd"]]

MIN_BUFFER_BYTES = 64 * 1024
_SEGMENT_TARGET = 1024 * 1024  # big enough that one pwrite per segment is cheap
# The most the ring can use: its header's table holds this many segments of _SEGMENT_TARGET.
MAX_BUFFER_BYTES = _core.SEGMENT_COUNT_RANGE[1] * _SEGMENT_TARGET
# buffer_size is compared with a segment's event count, a uint64 in the core.
_MAX_BUFFER_SIZE = 2**64 - 1
# Bytes of full segments that wake the scheduler, so that it places them and a writer writes them at once.
_WAKE_BYTES = 4 * 1024 * 1024
ON_FULL_POLICIES = ("block", "drop")

# Loggers not stopped yet; interpreter exit stops them (see fastevlog/__init__.py).
live_loggers: weakref.WeakSet[EventLogCounter] = weakref.WeakSet()


def stop_all() -> None:
    """Stop every logger not stopped yet (at interpreter exit, on SIGTERM)."""
    for logger in list(live_loggers):
        try:
            logger.stop()
        except Exception:  # keep stopping the others; the failure is reported
            _log.exception("stopping a logger failed")


def ring_geometry(buffer_bytes: int):
    """(segment_count, segment_size) for a buffer of at most buffer_bytes.

    Segments are about 1 MiB whatever max_file_size is, so every line up to
    that size travels through the ring, and so through the crash-safe buffer
    file; a segment spanning many small files is placed a few recorded pieces
    at a time (see FlushScheduler).  At least 4 segments, so writers and
    producers overlap; at most the header's table.
    """
    fewest, most = _core.SEGMENT_COUNT_RANGE
    size = _SEGMENT_TARGET
    count = min(most, buffer_bytes // size)
    if count < fewest:
        count, size = fewest, buffer_bytes // fewest // 64 * 64
    return count, size


def seals_per_wake(segment_count: int, segment_size: int) -> int:
    """How many segments sealed because they are full wake the scheduler (see Ring.attach).

    Each wake costs the producers GIL handoffs, the scheduler's and then a
    writer's, whatever it carries: with 4-8 MiB a wake instead of one 1 MiB
    segment, the scheduler woke and the writers wrote 3-6 times less often per
    MiB, and the producer slept less, for the same bytes (see
    benchmarks/handoff.py).  4 MiB rather than more, which measured no better:
    a batch copied soon after it was written may still be in a shared L3 (8 MiB
    on the VM measured), and the producers keep more of the ring while it
    waits.  At most a quarter of the ring waits, so the writers have the rest
    to catch up in.
    """
    return max(1, min(_WAKE_BYTES // segment_size, segment_count // 4))


# Bytes in a file name on the usual Linux file systems (ext4, xfs, btrfs, tmpfs).
NAME_MAX = 255
# The longest names made from a log_file: its log files, {log_file}_{YYYYMMDD_HHMMSS_NNNNNN}.log,
# and its buffer files, {log_file}.{pid}-{n}.buffer (ten digits each hold any pid_t and any n).
_LONGEST_SUFFIX = max(len("_YYYYMMDD_HHMMSS_NNNNNN.log"), len(".4294967295-4294967295.buffer"))
MAX_LOG_FILE_BYTES = NAME_MAX - _LONGEST_SUFFIX


def _check_log_file(log_file: Any) -> str:
    """log_file if it is a name every file made from it can have, else an error saying why not."""
    if not isinstance(log_file, str):
        raise TypeError(f"log_file must be a str, a plain file name, not {type(log_file).__name__}")
    if not log_file or log_file in (".", "..") or "/" in log_file:
        raise ValueError("log_file must be a plain file name without a directory part "
                         f"(directory= names the folder); got {log_file!r}")
    # Control characters, line breaks, NUL and lone surrogates are not printable: a
    # name holding one breaks every line-oriented tool that lists the directory.
    if not log_file.isprintable():
        raise ValueError(f"log_file must hold printable characters only (no control characters, "
                         f"line breaks or NUL); got {log_file!r}")
    try:
        size = len(os.fsencode(log_file))
    except UnicodeEncodeError:
        raise ValueError(f"log_file cannot be written in the file system's encoding "
                         f"({sys.getfilesystemencoding()}); got {log_file!r}") from None
    if size > MAX_LOG_FILE_BYTES:
        raise ValueError(f"log_file must be at most {MAX_LOG_FILE_BYTES} bytes, so that its file "
                         f"names stay within {NAME_MAX} bytes once '_YYYYMMDD_HHMMSS_NNNNNN.log' or "
                         f"'.PID-N.buffer' is added; got {size} bytes: shorten it")
    return log_file


def _check_file_mode(file_mode: Any) -> int:
    """file_mode if it is permission bits the logger can work with."""
    if isinstance(file_mode, bool) or not isinstance(file_mode, int):
        raise TypeError(f"file_mode must be an int of permission bits such as 0o640, "
                        f"not {type(file_mode).__name__}")
    # No setuid, setgid or sticky bit on a log file; and the owner (this process,
    # or the next one, recovering) must reopen its log files and buffer files.
    if not 0 <= file_mode <= 0o777 or file_mode & 0o600 != 0o600:
        raise ValueError("file_mode must be permission bits within 0o000-0o777 including owner "
                         f"read and write (0o600), e.g. 0o640; got {oct(file_mode)}")
    return file_mode


def _check_int(name: str, value: Any, minimum: int, maximum: Optional[int] = None) -> int:
    """value as an int within [minimum, maximum]: a TypeError for another type, a ValueError outside."""
    # Anything with __index__ (numpy's ints too), but not bool: True for num_workers is a mistake.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    value = operator.index(value)
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum:_}, not {value:_}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum:_}, not {value:_}")
    return value


def _check_flush_interval(flush_interval: Any) -> float:
    return _check_positive("flush_interval", flush_interval, "seconds", "")


def _check_positive(name: str, value: Any, unit: str, or_none: str) -> float:
    """value as a positive, finite float: a TypeError for another type, a ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number of {unit} (int or float){' or None' if or_none else ''}, "
                        f"not {type(value).__name__}")
    number = float(value)
    if not 0 < number < float("inf"):  # also refuses NaN
        raise ValueError(f"{name} must be a positive, finite number of {unit}{or_none}, not {value!r}")
    return number


def _finish_compressions(directory: LogDirectory, log_file: str) -> int:
    """finish_compressions() at start: what it cannot do is reported, and the start goes on."""
    try:
        return finish_compressions(directory, log_file)
    except OSError as error:
        _log.error("cannot finish the compressions left in %s (%s); they stay as they are",
                   directory.path, error)
        return 0


def _check_compression(compress: Any, compress_level: Any) -> Optional[Compressor]:
    """The compressor asked for, or None; an error naming the parameter when it cannot be had."""
    kind = _check_choice("compress", compress, (None, *KINDS))
    if kind is None:
        if compress_level is not None:
            raise ValueError("compress_level needs compress='gzip' or compress='zstd'; "
                             "without compression pass no level")
        return None
    if compress_level is not None:
        levels = LEVELS[kind]
        compress_level = _check_int("compress_level", compress_level, levels[0], levels[-1])
    try:
        return Compressor(kind, compress_level)
    except ImportError as error:
        raise ImportError(f"compress='zstd' needs the zstandard package: pip install 'fastevlog[zstd]', "
                          f"or use compress='gzip' ({error})") from error


def _check_retention(keep_files: Any, keep_bytes: Any, keep_days: Any) -> Retention:
    return Retention(
        None if keep_files is None else _check_int("keep_files", keep_files, 0),
        None if keep_bytes is None else _check_int("keep_bytes", keep_bytes, 0),
        None if keep_days is None else _check_positive("keep_days", keep_days, "days",
                                                       " (or None to keep files of any age)"))


def _check_choice(name: str, value: Any, choices: tuple) -> Any:
    """value if it is one of choices (str or None), else an error listing them."""
    listed = ", ".join(repr(choice) for choice in choices)
    if not isinstance(value, str) and not (value is None and None in choices):
        raise TypeError(f"{name} must be one of {listed}, not {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {listed}, not {value!r}")
    return value


def _check_level(level: Any) -> int:
    """The core's index of the minimum level, from a name or a stdlib int."""
    if isinstance(level, bool) or not isinstance(level, (str, numbers.Integral)):
        raise TypeError(f"level must be a level name such as 'INFO' or a stdlib int such as logging.INFO, "
                        f"not {type(level).__name__}")
    return _core.level_index(level)  # type: ignore[arg-type]  # numpy's ints; its ValueError lists the levels


def _check_clock(clock: Any) -> Callable[[], float]:
    if not callable(clock):
        raise TypeError(f"clock must be a function returning seconds since the epoch, like time.time; "
                        f"got {type(clock).__name__}")
    return clock


def _check_install_signal_handlers(install: Any) -> bool:
    if not isinstance(install, bool):
        raise TypeError(f"install_signal_handlers must be True or False, not {type(install).__name__}")
    # Checked here, not when installing: a refused logger must leave nothing behind.
    if install and threading.current_thread() is not threading.main_thread():
        raise ValueError("install_signal_handlers=True needs the main thread, where Python runs signal "
                         "handlers: create this logger there, or pass False and call stop() yourself")
    return install


def _first_non_directory(path: str) -> Optional[str]:
    """The outermost existing part of path (itself included) that is not a directory, if any."""
    parts = []
    head = os.path.abspath(path)
    while True:
        parts.append(head)
        parent = os.path.dirname(head)
        if parent == head:
            break
        head = parent
    for part in reversed(parts):
        if os.path.lexists(part) and not os.path.isdir(part):
            return part
    return None


def _open_directory(directory: str, file_mode: int) -> LogDirectory:
    """LogDirectory(directory), with an error that says what to change when a file is in the way."""
    try:
        return LogDirectory(directory, file_mode)
    except (FileExistsError, NotADirectoryError) as error:
        in_the_way = _first_non_directory(directory)
        if in_the_way is None:  # replaced by a directory meanwhile: nothing better to say
            raise
        # A symlink to nowhere is no file, and "a file" would send its owner looking for one.
        kind = "a symlink to nothing" if not os.path.exists(in_the_way) else "a file"
        if in_the_way == os.path.abspath(directory):
            reason = f"directory= names {kind}, not a directory: {directory!r}"
        else:
            reason = f"directory= {directory!r} cannot be created: {in_the_way!r} is {kind}, not a directory"
        raise NotADirectoryError(errno.ENOTDIR, f"{reason}; pass the path of a directory (created if "
                                                f"missing) to hold the log files") from error


def _check_directory(directory: Any) -> str:
    """directory as a str path, or an error naming what is wrong with it."""
    path = os.fspath(directory) if isinstance(directory, (str, os.PathLike)) else None
    if not isinstance(path, str):
        what = type(path if isinstance(directory, os.PathLike) else directory).__name__
        raise TypeError(f"directory must be a str or os.PathLike path (of str), not {what}")
    if not path:
        raise ValueError("directory must not be empty: use '.' for the current directory")
    if "\0" in path:
        raise ValueError(f"directory must not contain NUL characters; got {path!r}")
    return path


def _no_room_message(error: OSError, directory: LogDirectory, needed: int) -> str:
    """Why the buffer file could not be allocated (ENOSPC, EDQUOT), and what to change."""
    try:
        stat = os.statvfs(directory.fd)
        free = f"{stat.f_bavail * stat.f_frsize:_} bytes are free there"
    except OSError:
        free = "the free space there is unknown"
    return (f"{error.strerror}: the buffer file in {directory.path!r} needs {needed:_} bytes and {free}; "
            f"lower buffer_bytes (at least {MIN_BUFFER_BYTES:_}), or free space on that file system")


class EventLogCounter(_core.LoggerCore):
    """An asynchronous, buffered, thread-safe JSON-lines event logger that counts what it logs.

    log() and the level methods (debug, info, warning, error, critical) come
    from the compiled core: they encode the event into a memory-mapped buffer
    and return; background threads write it to ``{log_file}_{YYYYMMDD_HHMMSS}.log``
    files in ``directory``.

    Args:
        log_file: base name of the log files: a plain, printable file name of at
            most 226 bytes in UTF-8 (room for the suffixes within 255 bytes).
        directory: where log files and the buffer file live; created if missing,
            with file_mode's permissions plus x wherever r is (0o640 gives 0o750).
        buffer_size: pending events in the active segment that trigger a flush.
        buffer_bytes: capacity of the preallocated buffer (64 KiB to 1 GiB).
        flush_interval: seconds between flushes of whatever is pending.
        max_file_size: a file is rotated before it would exceed this many bytes.
        rotate_every: None, "hourly" or "daily" (UTC), on top of size rotation.
        num_workers: writer threads.
        max_retries: retries of a failed write before it is reported CRITICAL and held.
        on_full: "block" waits (GIL released) for the writers when the buffer is
            full; "drop" drops the event and counts it in metrics()["dropped"].
        level: minimum level written, a name or the stdlib's int.
        file_mode: permission bits of new files, within 0o777 and including 0o600
            (the owner reopens them for recovery); the umask still applies.
        clock: seconds since the epoch, for file names and time rotation (tests
            inject one; event timestamps always come from the system clock).
        compress: None, "gzip" or "zstd" (the zstd extra: pip install
            'fastevlog[zstd]'): closed files are compressed to NAME.log.gz or
            NAME.log.zst on a background thread.
        compress_level: gzip 1-9 (default 6) or zstd 1-22 (default 3).
        keep_files: keep at most this many closed files (files being written
            come on top), deleting the oldest; None keeps all.
        keep_bytes: keep the newest closed files up to this many bytes on
            disk (compressed or not); None sets no limit.
        keep_days: delete closed files last written more than this many days
            ago (by clock()); None sets no limit.
        ship_to: a fastevlog.NatsShipper: the directory's log files (any
            process's) are published to its NATS JetStream stream by a thread
            of this logger, from the files, as they are written (README, Many
            machines).  One process at a time ships a directory; the others
            stand by.  Compression and retention wait for a file's bytes to be acked.
        install_signal_handlers: on SIGTERM, stop every logger (writing what is
            pending), then run the previous handler or the default action.
            Must be called from the main thread.

    Raises:
        TypeError: a parameter of the wrong type, named in the message;
            nothing is created.
        ValueError: a parameter's value out of its range, named likewise.
        OSError: the directory cannot be used (NotADirectoryError when a file
            is in the way), or there is no room for the buffer file (ENOSPC:
            lower buffer_bytes).
    """

    def __init__(
        self,
        log_file: str = "async_buffered_logs",
        directory: Union[str, os.PathLike[str]] = ".",
        buffer_size: int = 1_000_000,
        buffer_bytes: int = 32 * 1024 * 1024,
        flush_interval: float = 1.0,
        max_file_size: int = 10 * 1024 * 1024,
        rotate_every: RotateEvery = None,
        num_workers: int = 4,
        max_retries: int = 3,
        on_full: OnFull = "block",
        level: Level = "DEBUG",
        file_mode: int = 0o640,
        clock: Callable[[], float] = time.time,
        install_signal_handlers: bool = False,
        compress: Compress = None,
        compress_level: Optional[int] = None,
        keep_files: Optional[int] = None,
        keep_bytes: Optional[int] = None,
        keep_days: Optional[float] = None,
        ship_to: Optional[NatsShipper] = None,
    ) -> None:
        # Every parameter is checked before anything is created, so a refused logger leaves nothing behind.
        log_file = _check_log_file(log_file)
        directory = _check_directory(directory)
        buffer_size = _check_int("buffer_size", buffer_size, 1, _MAX_BUFFER_SIZE)
        buffer_bytes = _check_int("buffer_bytes", buffer_bytes, MIN_BUFFER_BYTES, MAX_BUFFER_BYTES)
        flush_interval = _check_flush_interval(flush_interval)
        max_file_size = _check_int("max_file_size", max_file_size, 1)
        rotate_every = _check_choice("rotate_every", rotate_every, tuple(ROTATE_PERIODS))
        num_workers = _check_int("num_workers", num_workers, 1)
        max_retries = _check_int("max_retries", max_retries, 0)
        on_full = _check_choice("on_full", on_full, ON_FULL_POLICIES)
        min_level = _check_level(level)
        file_mode = _check_file_mode(file_mode)
        clock = _check_clock(clock)
        install_signal_handlers = _check_install_signal_handlers(install_signal_handlers)
        compressor = _check_compression(compress, compress_level)
        retention = _check_retention(keep_files, keep_bytes, keep_days)
        if ship_to is not None and not isinstance(ship_to, NatsShipper):
            raise TypeError(f"ship_to must be a fastevlog.NatsShipper or None, not {type(ship_to).__name__}")
        if ship_to is not None:
            import_nats()  # an ImportError naming the extra now, not a failing thread later
        self._ship_to = ship_to

        log_directory = _open_directory(directory, file_mode)
        segment_count, segment_size = ring_geometry(buffer_bytes)
        self._files_parameters = (log_directory, log_file, max_file_size, rotate_every, file_mode, clock)
        self._ring_parameters = (segment_count, segment_size, min_level, on_full == "block", buffer_size)
        self._buffer_bytes = segment_count * segment_size  # the ring's capacity: buffer_bytes rounded down
        self._writer_parameters = (num_workers, max_retries, flush_interval)
        self._housekeeping_parameters = (compressor, retention)
        try:
            self._files = LogFiles(*self._files_parameters)
            self.recovered_events = recover(self._files)
            # Recovery wrote its files itself; the writers start on a file of their own,
            # which they grow strictly in order from its first byte.
            self._files.close()
            compressions_finished = _finish_compressions(log_directory, log_file)
            self._stopped = False
            self._start(compressions_finished)
        except BaseException:
            log_directory.close()  # a refused start (e.g. no room for the buffer file) keeps no descriptor
            raise
        live_loggers.add(self)
        if install_signal_handlers:  # once nothing can fail: a refused logger installs nothing
            install_sigterm_handler(stop_all)

    def _start(self, compressions_finished: int = 0) -> None:
        """A buffer file of this process's own, mapped into the ring, and the threads that write it."""
        directory, log_file, *_, file_mode, _ = self._files_parameters
        segment_count, segment_size, min_level, block_when_full, seal_after_events = self._ring_parameters
        size = _core.buffer_file_size(segment_count, segment_size)
        try:
            self._buffer_file = BufferFile(directory, log_file, size, file_mode)
        except OSError as error:
            if error.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            raise OSError(error.errno, _no_room_message(error, directory, size)) from error
        self._scheduler = FlushScheduler(self._buffer_file.mapping, self._files,
                                         *self._writer_parameters, buffer_path=self._buffer_file.path)
        ring = self._attach(self._buffer_file.mapping, segment_count, segment_size, self._scheduler.wake_fd,
                            min_level, block_when_full, seal_after_events,
                            wake_after=seals_per_wake(segment_count, segment_size))
        # Reentrant: a SIGTERM handler may run stop() while the main thread is inside it.
        self._stop_lock = threading.RLock()
        self._scheduler.start(ring)
        self._shipper: Optional[Shipper] = None
        if self._ship_to is not None:
            from ._shipper import Shipper  # here: asyncio is loaded only once a logger ships

            # First: its cursor must be in the directory before the housekeeper's first pass.
            self._shipper = Shipper(self._ship_to, directory)
            self._shipper.start()
        compressor, retention = self._housekeeping_parameters
        self._housekeeping = Housekeeping(directory, log_file, compressor, retention, self._files.clock)
        self._housekeeping.report.files_compressed = compressions_finished  # before its thread starts
        self._housekeeper: Optional[Housekeeper] = None
        if compressor is not None or retention.limits():
            self._housekeeper = Housekeeper(self._housekeeping)
            self._files.file_closed = self._housekeeper.wake
            self._housekeeper.start()

    def _restart_after_fork(self) -> None:
        """In a forked child: leave the parent's buffer, files and (vanished) threads alone; start afresh.

        The child writes none of the parent's pending events: they stay in the
        parent's buffer file, which the parent goes on writing.  Counts restart at zero.
        """
        if self._stopped:
            return
        self._forget_after_fork()  # the ring's state and counts, without touching the shared mapping
        self._scheduler.abandon()
        if self._housekeeper is not None:
            self._housekeeper.abandon()
        if self._shipper is not None:
            self._shipper.abandon()
        self._files.abandon()
        self._buffer_file.abandon()
        self._files = LogFiles(*self._files_parameters)
        self.recovered_events = 0
        self._start()

    def flush(self) -> None:
        """Return once every event logged before the call is written to its file.

        Raises fastevlog.WriteError if some of it failed every retry; those
        events are kept and retried on the next flush.
        """
        if not self._stopped:
            self._scheduler.flush()

    def stop(self) -> None:
        """Flush, stop the threads and close the files.  Idempotent; log() raises afterwards.

        If events could not be written, the buffer file is kept so that the
        next logger on this directory and log_file recovers them.
        """
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
            if self._housekeeper is not None:
                self._housekeeper.stop()  # gives up a compression under way: the next start does it
            self._ring.close()
            keep = False
            try:
                self._scheduler.flush()
            except (WriteError, RuntimeError) as error:
                keep = True
                if self._buffer_file_exists():
                    _log.critical("stopping with unwritten events (%s); they stay in %s for recovery",
                                  error, self._buffer_file.path)
                else:
                    _log.critical("stopping with unwritten events (%s); they are lost: their buffer file %s "
                                  "was deleted (the log directory with it?), so nothing keeps them "
                                  "for recovery", error, self._buffer_file.path)
            lost = self._scheduler.unwritten_oversized_lines()
            if lost:
                _log.critical("%d lines longer than a buffer segment could not be written and are lost", lost)
            self._scheduler.stop()
            self._files.close()
            self._ring.detach()
            self._buffer_file.close(remove=not keep and self._buffer_file_exists())
            if self._shipper is not None:
                self._shipper.stop()  # ships what is written for up to its stop_timeout
            self._retain_at_stop()
            self._files.directory.close()
            live_loggers.discard(self)

    def _retain_at_stop(self) -> None:
        """Delete what retention no longer keeps, now that the last file is closed (a short script's
        files would otherwise wait for the next start); compression waits for the next start."""
        if self._housekeeper is None:
            return
        try:
            self._housekeeping.retain()
        except Exception as error:  # stop() goes on: a later start deletes them
            _log.error("retention at stop failed (%s: %s); the next start tries again",
                       type(error).__name__, error)

    def _buffer_file_exists(self) -> bool:
        """Whether the buffer file is still at its name (a deleted directory takes it along)."""
        try:
            self._buffer_file.directory.stat(self._buffer_file.name)
        except FileNotFoundError:
            return False
        return True

    def metrics(self) -> Dict[str, int]:
        """Counters of what the logger did so far (see the README for each key)."""
        scheduler = self._scheduler
        result = self._core_metrics()
        result.update(
            events_written=scheduler.events_written,
            bytes_written=scheduler.bytes_written,
            flushes=scheduler.flushes,
            rotations=self._files.rotations,
            write_failures=scheduler.write_failures,
            retries=scheduler.retries,
            files_written=self._files.files_created,
            file_open_failures=scheduler.file_open_failures,
            recovered_events=self.recovered_events,
            buffer_bytes=self._buffer_bytes,
            **vars(self._housekeeping.report),
            **vars(self._shipper.report if self._shipper is not None else ShipReport()),
        )
        return result

    @property
    def buffer_path(self) -> str:
        """The buffer file holding this logger's unwritten events."""
        return self._buffer_file.path

    def __enter__(self) -> EventLogCounter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
