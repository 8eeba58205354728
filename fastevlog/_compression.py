"""Compressing a closed log file so that a crash at any step leaves one complete copy under a final name.

The steps: the compressed bytes go to a hidden temporary name that no reader
takes for a log file, which is synced, then renamed to NAME.log.gz (or .zst),
the directory synced, and only then the original removed.  Killed at any
step, the directory holds the original (and perhaps a temporary to clean up),
or both complete files, or the compressed one.  Readers that meet both read
the original (fastevlog count does); finish_compressions(), at every
logger's start and in ``fastevlog recover``, removes the leftovers.

zlib and zstandard release the GIL while they compress, so a compression on a
background thread costs log() nothing but a share of the CPU.
"""

from __future__ import annotations

import logging
import os
import zlib
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from ._closed_files import Claim, LogicalFile, claim_closed, list_log_files
from ._decompress import GzipReader, Input, ZstdReader
from ._directory import LogDirectory

_log = logging.getLogger("fastevlog")

KINDS = {"gzip": ".gz", "zstd": ".zst"}
DEFAULT_LEVELS = {"gzip": 6, "zstd": 3}
LEVELS = {"gzip": range(1, 10), "zstd": range(1, 23)}

# Bytes read and compressed at a time: bounds the memory, and how long a stop waits for an abort.
CHUNK_BYTES = 1024 * 1024

STEPS = ("claimed", "temporary created", "temporary half written", "temporary synced", "renamed",
         "directory synced", "original removed")


def _reached(step: str) -> None:
    """Called after each of STEPS; fault-injection tests replace it (to kill the process there)."""


class Stopped(Exception):
    """The compression was given up because the logger stops; the original is kept."""


class Compressor:
    """Compresses claimed files of one kind at one level."""

    def __init__(self, kind: str, level: Optional[int] = None) -> None:
        self.kind = kind
        self.suffix = KINDS[kind]
        self.level = DEFAULT_LEVELS[kind] if level is None else level
        if self.level not in LEVELS[kind]:
            levels = LEVELS[kind]
            raise ValueError(f"compress_level must be {levels[0]} to {levels[-1]} for compress={kind!r}, "
                             f"not {self.level!r}")
        self._zstd: Any = None
        self._flush_block: int = zlib.Z_SYNC_FLUSH
        if kind == "zstd":
            zstandard = _zstandard()
            self._zstd = zstandard.ZstdCompressor(level=self.level, write_checksum=True)
            self._flush_block = zstandard.COMPRESSOBJ_FLUSH_BLOCK

    def compress(self, directory: LogDirectory, held: Claim,
                 stopping: Callable[[], bool] = lambda: False, settle: bool = True) -> Optional[int]:
        """Compress the claimed file to NAME.log{suffix} and remove it; the compressed size.

        None when the original was removed by hand meanwhile (nothing is
        renamed then).  Raises Stopped when ``stopping()`` turns true, OSError
        when a step fails; the temporary is removed and the original kept.
        With settle False, the original stays beside its copy, still claimed,
        for settle() to remove with others after one fsync of the directory.
        """
        _reached("claimed")
        final = held.name + self.suffix
        temporary = temporary_name(final)
        # A compression cut short after its rename: the copy is kept if it is whole.
        if final in held.file.forms and _finish_pair(directory, held, final):
            return directory.stat(final).st_size
        _remove_if_there(directory, temporary)  # a dead compressor's: it held the lock we hold now
        fd = directory.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, held.stat.st_mode & 0o777)
        try:
            _reached("temporary created")
            size = self._write(held.fd, fd, stopping)
            # The original's times: retention ages a file by when it was last written, not compressed.
            os.utime(fd, ns=(held.stat.st_atime_ns, held.stat.st_mtime_ns))
            os.fsync(fd)
            _reached("temporary synced")
        except BaseException:
            os.close(fd)
            _remove_if_there(directory, temporary)
            raise
        os.close(fd)
        if not held.still_named():
            _remove_if_there(directory, temporary)
            _log.warning("%s was removed while being compressed; its compressed copy is discarded",
                         directory.join(held.name))
            return None
        directory.rename(temporary, final)
        _reached("renamed")
        if settle:
            settle_compressed(directory, [held])
        return size

    def _write(self, source: int, target: int, stopping: Callable[[], bool]) -> int:
        """Compress all of source into target from their starts; the bytes written."""
        if self._zstd is not None:
            stream = self._zstd.compressobj()
        else:
            stream = zlib.compressobj(self.level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # a gzip member
        written = offset = 0
        while True:
            if stopping():
                raise Stopped
            data = os.pread(source, CHUNK_BYTES, offset)
            if not data:
                break
            offset += len(data)
            written += _write_all(target, stream.compress(data))
            if offset == len(data) == CHUNK_BYTES:
                # What the first chunk made, in the file now: a kill here leaves a temporary partly written.
                written += _write_all(target, stream.flush(self._flush_block))
                _reached("temporary half written")
        return written + _write_all(target, stream.flush())


def settle_compressed(directory: LogDirectory, renamed: Sequence[Claim]) -> None:
    """Make the renames of compressed copies durable, then remove their claimed originals.

    One fsync of the directory covers every rename before it: a pass syncs
    once for several files.  Until then each original stays beside its copy,
    a state readers and finish_compressions() already handle.
    """
    os.fsync(directory.fd)
    _reached("directory synced")
    for held in renamed:
        if held.still_named():
            directory.unlink(held.name)
        _reached("original removed")


def temporary_name(final: str) -> str:
    """Where final is written before it is renamed: hidden, and not ending in a log file's suffix."""
    return f".{final}.tmp"


def finish_compressions(directory: LogDirectory, log_file: Optional[str]) -> int:
    """Finish or undo what compressions killed midway left; the files found compressed and finished.

    A temporary whose original is gone, or closed (no live compressor holds
    it), is removed.  An original beside its compressed copy is removed once
    the copy reads back whole and equal to it; a copy that does not is removed
    instead.  Originals that a live process holds are left to it.
    """
    files = {file.name: file for file in list_log_files(directory, log_file)}
    temporaries: Dict[str, List[str]] = {}  # original name -> its temporaries
    for entry in directory.listdir():
        original = _original_of_temporary(entry)
        if original is None:
            continue
        file = files.get(original)
        if file is None or file.forms[0] != file.name:
            if log_file is None or original.startswith(log_file + "_"):
                _remove_if_there(directory, entry)  # no compressor works without its original
        else:
            temporaries.setdefault(original, []).append(entry)
    leftovers = [file for file in files.values()
                 if file.forms[0] == file.name and (len(file.forms) > 1 or file.name in temporaries)]
    finished = 0
    for base in sorted({_base_of(file) for file in leftovers}):
        claims = claim_closed(directory, base, [file for file in leftovers if _base_of(file) == base])
        for held in claims or []:
            try:
                for entry in temporaries.get(held.name, []):
                    _remove_if_there(directory, entry)
                for final in held.file.forms[1:]:
                    if _finish_pair(directory, held, final):
                        finished += 1
                        break
            finally:
                held.close()
    return finished


def _finish_pair(directory: LogDirectory, held: Claim, final: str) -> bool:
    """The claimed original beside its compressed copy: remove the one that must go; True if the original."""
    try:
        whole = _same_content(directory, final, held.fd)
    except (OSError, RuntimeError) as error:  # RuntimeError: a .zst copy, and no zstandard to read it
        _log.error("cannot read %s back (%s); it stays beside %s", directory.join(final), error,
                   directory.join(held.name))
        return False
    if whole:
        if held.still_named():
            directory.unlink(held.name)
        _log.info("finished compressing %s: a compression cut short had left it beside %s",
                  directory.join(held.name), final)
        return True
    _log.error("%s is not a whole compressed copy of %s; removing it (the original is kept)",
               directory.join(final), directory.join(held.name))
    _remove_if_there(directory, final)
    return False


def _same_content(directory: LogDirectory, final: str, original: int) -> bool:
    """Whether the file ``final`` decompresses, whole, to exactly the bytes of ``original``.

    Read as fastevlog count reads it, a block at a time: a planted copy that
    inflates to gigabytes never holds more than one block.  Raises RuntimeError
    for a .zst copy when zstandard is not installed.
    """
    with os.fdopen(directory.open(final, os.O_RDONLY | os.O_NONBLOCK), "rb", buffering=0) as file:
        raw = Input(file, None)
        reader: Union[GzipReader, ZstdReader]
        if final.endswith(KINDS["zstd"]):
            reader = ZstdReader(raw, b"", directory.join(final))
        else:
            reader = GzipReader(raw, b"")
        block = memoryview(bytearray(CHUNK_BYTES))
        at = 0
        while True:
            n = reader.readinto(block)
            if not n:
                break
            if os.pread(original, n, at) != block[:n]:
                return False
            at += n
        return reader.damage is None and at == os.fstat(original).st_size


def _original_of_temporary(entry: str) -> Optional[str]:
    for suffix in KINDS.values():
        end = ".log" + suffix + ".tmp"
        if entry.startswith(".") and entry.endswith(end):
            return entry[1:-len(suffix + ".tmp")]
    return None


def _base_of(file: LogicalFile) -> str:
    return file.name[:-len(file.stamp) - len("_.log")]


def _remove_if_there(directory: LogDirectory, name: str) -> None:
    try:
        directory.unlink(name)
    except FileNotFoundError:
        pass


def _write_all(fd: int, data: bytes) -> int:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    return len(data)


def _zstandard() -> Any:
    import zstandard  # the zstd extra; checked at the logger's construction
    return zstandard
