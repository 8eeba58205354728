"""A count's sources read as their decompressed bytes, a block at a time: plain, gzip (zlib) or zstd
(the ``zstandard`` package), with what was damaged in a compressed file noted rather than raised.

fastevlog/_count.py picks the reader by a source's first bytes and scans what it gives.
"""

from __future__ import annotations

import zlib
from typing import IO, Any, Callable, Optional, Union

COMPRESSED_READ_SIZE = 1 << 20  # compressed bytes read at a time
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class Input:
    """A source's raw bytes, as read: each read is added to the progress bar."""

    def __init__(self, file: IO[bytes], on_read: Optional[Callable[[int], Any]]) -> None:
        self._file = file
        self._on_read = on_read

    def readinto(self, view: memoryview) -> int:
        n = self._file.readinto(view) or 0  # type: ignore[attr-defined]
        if n and self._on_read is not None:
            self._on_read(n)
        return n

    def read(self, size: int) -> bytes:
        data = self._file.read(size)
        if data and self._on_read is not None:
            self._on_read(len(data))
        return data or b""


class GzipReader:
    """A gzip stream's decompressed bytes, at most a block at a time (a small file that inflates to
    gigabytes never holds more), member after member (a concatenation of gzip files is one)."""

    def __init__(self, raw: Input, start: bytes) -> None:
        self._raw = raw
        self._input = start  # compressed bytes not given to the decompressor yet
        self._raw_ended = False
        self._decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        self._at_member_start = True
        self._finished = False
        self.damage: Optional[str] = None

    def readinto(self, view: memoryview) -> int:
        while not self._finished:
            if not self._input and not self._raw_ended:
                self._input = self._raw.read(COMPRESSED_READ_SIZE)
                self._raw_ended = not self._input
            if self._at_member_start:
                self._input = self._input.lstrip(b"\0")  # zero padding after a member, as gzip(1) allows
                if not self._input:
                    self._finished = self._raw_ended
                    continue
                self._at_member_start = False
            try:
                # zlib releases the GIL while it inflates.
                out = self._decompressor.decompress(self._input, len(view))
            except zlib.error as error:
                self._fail(f"corrupt gzip data ({error})")
                return 0
            if self._decompressor.eof:
                self._input = self._decompressor.unused_data
                self._decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
                self._at_member_start = True
            else:
                self._input = self._decompressor.unconsumed_tail
                if not out and not self._input and self._raw_ended:
                    self._fail("truncated: the gzip stream ends inside a member")
                    return 0
            if out:
                view[:len(out)] = out
                return len(out)
        return 0

    def _fail(self, reason: str) -> None:
        self.damage = reason
        self._finished = True


class ZstdFrames:
    """The compressed bytes of a zstd file, passed on to the decompressor while following its frames'
    structure (RFC 8878, section 3.1): zstandard's stream reader just stops at the end of a file cut
    inside a frame, and drops what it decompressed in the same call when it meets data after the last
    frame that is not one; this says the first, and passes on nothing from the second."""

    _MAGIC, _DESCRIPTOR, _BLOCK_HEADER, _SKIPPABLE_SIZE, _CORRUPT = range(5)
    _HEADER_SIZES = {_MAGIC: 4, _DESCRIPTOR: 1, _BLOCK_HEADER: 3, _SKIPPABLE_SIZE: 4}

    def __init__(self, raw: Input, start: bytes) -> None:
        self._raw = raw
        self._start = start
        self._state = self._MAGIC
        self._header = b""  # the bytes of a header read so far
        self._skip = 0  # bytes of block content (or a skippable frame) still to pass over
        self._after_skip = self._MAGIC
        self._checksum = False
        self._held = b""  # the first bytes of a frame's magic number, passed on once it is whole
        self.not_zstd = False  # bytes after the last frame that are not a frame

    @property
    def cut_inside_a_frame(self) -> bool:
        return self._state not in (self._MAGIC, self._CORRUPT) or bool(self._skip)

    def read(self, size: int) -> bytes:
        while not self.not_zstd:
            chunk, self._start = self._start or self._raw.read(size), b""
            if not chunk:
                self.not_zstd = bool(self._held)  # too short to be a magic number
                return b""
            data, self._held = self._held + chunk, b""
            passed = self._follow(data)
            if self._state == self._MAGIC and self._header:
                self._held, self._header = self._header, b""  # followed again with the next read
            if passed:
                return data[:passed]
        return b""

    def _follow(self, data: bytes) -> int:
        """Follow data; returns how many of its bytes the decompressor is to have."""
        at = 0
        while at < len(data) and self._state != self._CORRUPT:
            if self._skip:
                passed = min(self._skip, len(data) - at)
                self._skip -= passed
                at += passed
                if not self._skip:
                    self._state = self._after_skip
                continue
            size = self._HEADER_SIZES[self._state]
            wanted = size - len(self._header)
            self._header += data[at:at + wanted]
            at += min(wanted, len(data) - at)
            if len(self._header) == size:
                header, self._header = self._header, b""
                if self._state == self._MAGIC and header != ZSTD_MAGIC and not zstd_skippable(header):
                    self.not_zstd = True
                    return at - size
                self._advance(header)
        if self._state == self._MAGIC and self._header:
            return len(data) - len(self._header)
        return len(data)

    def _advance(self, header: bytes) -> None:
        if self._state == self._MAGIC:
            self._state = self._DESCRIPTOR if header == ZSTD_MAGIC else self._SKIPPABLE_SIZE
        elif self._state == self._DESCRIPTOR:
            descriptor = header[0]
            single_segment = bool(descriptor & 0x20)
            self._checksum = bool(descriptor & 0x04)
            content_size_bytes = (1 if single_segment else 0, 2, 4, 8)[descriptor >> 6]
            dictionary_id_bytes = (0, 1, 2, 4)[descriptor & 3]
            self._pass(int(not single_segment) + dictionary_id_bytes + content_size_bytes, self._BLOCK_HEADER)
        elif self._state == self._BLOCK_HEADER:
            value = int.from_bytes(header, "little")
            last, block_type, size = value & 1, (value >> 1) & 3, value >> 3
            if block_type == 3:  # reserved: the decompressor says what is wrong
                self._state = self._CORRUPT
                return
            content = 1 if block_type == 1 else size  # an RLE block is one byte
            if last:
                self._pass(content + (4 if self._checksum else 0), self._MAGIC)
            else:
                self._pass(content, self._BLOCK_HEADER)
        else:  # a skippable frame's size
            self._pass(int.from_bytes(header, "little"), self._MAGIC)

    def _pass(self, length: int, then: int) -> None:
        self._skip = length
        self._after_skip = then
        if not length:
            self._state = then


class ZstdReader:
    """A zstd stream's decompressed bytes, into the caller's block (at most a block at a time), frame
    after frame."""

    def __init__(self, raw: Input, start: bytes, path: str) -> None:
        try:
            import zstandard
        except ImportError:
            raise RuntimeError(f"{path} is zstd-compressed: reading it needs the zstandard package, "
                               f'pip install "fastevlog[zstd]"') from None
        self._error = zstandard.ZstdError
        self._frames = ZstdFrames(raw, start)
        # Its C backend releases the GIL while it decompresses; it only calls the source's read().
        self._reader = zstandard.ZstdDecompressor().stream_reader(
            self._frames, read_size=COMPRESSED_READ_SIZE, read_across_frames=True)  # type: ignore[arg-type]
        self._finished = False
        self.damage: Optional[str] = None

    def readinto(self, view: memoryview) -> int:
        if self._finished:
            return 0
        try:
            n = self._reader.readinto(view)
        except self._error as error:
            self.damage = f"corrupt zstd data ({error})"
            n = 0
        if n == 0:
            self._finished = True
            if self.damage is None and self._frames.cut_inside_a_frame:
                self.damage = "truncated: the zstd stream ends inside a frame"
            elif self.damage is None and self._frames.not_zstd:
                self.damage = "data after the last zstd frame is not zstd (not read)"
        return n


def zstd_skippable(start: Union[bytes, memoryview]) -> bool:
    """Whether data starts with a zstd skippable frame (pzstd writes one first)."""
    return len(start) >= 4 and start[1:4] == b"\x2a\x4d\x18" and start[0] & 0xF0 == 0x50


class RawReader:
    def __init__(self, raw: Input) -> None:
        self.readinto = raw.readinto
        self.damage: Optional[str] = None
