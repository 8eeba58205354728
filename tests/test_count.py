"""fastevlog.count() (fastevlog/_count.py) diffed against tests/count_reference.py on count_corpus's inputs.

Each input is written to files and counted through every way of reading them: one job or three, blocks
the size of a few lines (the unterminated tail carried, the block grown for longer lines) or the default,
plain, gzip and zstd; the answer must be the reference's, as_json() byte for byte.
"""

from __future__ import annotations

import gzip
import os
import random
import sys
import tempfile
import threading
import time
import tracemalloc
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import count_corpus as corpus
import count_reference as reference
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastevlog
from fastevlog import _count, _decompress

zstandard = pytest.importorskip("zstandard")

Source = Tuple[str, bytes]
DEFAULT_BY = ("level", "event_id")
SMALL_BLOCK = 64  # a few lines: every block carries a tail, most lines need the block grown


def write_sources(directory: Path, sources: Sequence[Source], suffix: str = ".log",
                  compress=lambda data: data) -> List[Source]:
    """Each source in a file of its own; returns (path, uncompressed bytes) for the reference."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for index, (_, data) in enumerate(sources):
        path = directory / f"source{index}{suffix}"
        path.write_bytes(compress(data))
        written.append((str(path), data))
    return written


def expected(sources: Sequence[Source], by: Sequence[str] = DEFAULT_BY, **options) -> str:
    """The reference's as_json (count()'s keywords; event_id is the reference's event_id_glob)."""
    if "event_id" in options:
        options["event_id_glob"] = options.pop("event_id")
    if isinstance(options.get("levels"), str):
        options["levels"] = options["levels"].split(",")
    return reference.as_json(reference.count_reference(sources, by=by, **options), by)


def counted(paths, by: Sequence[str] = DEFAULT_BY, **options) -> str:
    return fastevlog.count(paths, by, **options).as_json()


def gzip_members(data: bytes, pieces: int = 3) -> bytes:
    """data as several gzip members, one after the other (what `cat a.gz b.gz` makes)."""
    step = max(1, len(data) // pieces)
    return b"".join(gzip.compress(data[start:start + step]) for start in range(0, len(data), step)) or \
        gzip.compress(b"")


def zstd_frames(data: bytes, pieces: int = 3) -> bytes:
    """data as several zstd frames (with and without content size and checksum), a skippable frame
    first (as pzstd writes) and another between them."""
    step = max(1, len(data) // pieces)
    frames = [zstandard.ZstdCompressor(write_checksum=index % 2 == 0,
                                       write_content_size=index % 3 != 1).compress(data[start:start + step])
              for index, start in enumerate(range(0, len(data), step))]
    skippable = b"\x5e\x2a\x4d\x18" + (5).to_bytes(4, "little") + b"skip!"
    return b"".join([skippable] + frames[:1] + [skippable] + frames[1:])


# -- the corpus --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("count")


@pytest.fixture(scope="module")
def simulate(corpus_dir) -> List[Source]:
    (corpus_dir / "sim-out").mkdir()
    return write_sources(corpus_dir / "simulate", corpus.simulate_sources(corpus_dir / "sim-out", 3000))


@pytest.fixture(scope="module")
def hostile(corpus_dir) -> List[Source]:
    events = corpus.hostile_events()
    (corpus_dir / "hostile-out").mkdir()
    return write_sources(corpus_dir / "hostile", corpus.fastevlog_sources(corpus_dir / "hostile-out", events))


@pytest.fixture(scope="module")
def other(corpus_dir) -> List[Source]:
    return write_sources(corpus_dir / "other", corpus.other_writer_sources(random.Random(13), 400))


@pytest.fixture(scope="module")
def damaged(corpus_dir, simulate, other) -> List[Source]:
    rng = random.Random(7)
    return write_sources(corpus_dir / "damaged", corpus.damaged_sources(simulate[:2] + other, rng))


@pytest.fixture(scope="module")
def every_source(simulate, hostile, other, damaged) -> List[Source]:
    return simulate + hostile + other + damaged


CORPORA = ["simulate", "hostile", "other", "damaged"]


class TestCorpus:
    """Every corpus, every way of reading it, by level and event id."""

    @pytest.mark.parametrize("jobs", [1, 3])
    @pytest.mark.parametrize("block_size", [SMALL_BLOCK, _count.BLOCK_SIZE])
    @pytest.mark.parametrize("name", CORPORA)
    def test_plain(self, request, name, jobs, block_size):
        """Plain files: the reference's counts, files, bytes and bad lines."""
        sources = request.getfixturevalue(name)
        assert counted([path for path, _ in sources], jobs=jobs, _block_size=block_size) == expected(sources)

    @pytest.mark.parametrize("suffix, compress", [(".log.gz", gzip_members), (".log.zst", zstd_frames)])
    @pytest.mark.parametrize("name", CORPORA)
    def test_compressed(self, request, corpus_dir, name, suffix, compress):
        """gzip (several members) and zstd (several frames) copies count as the plain files."""
        plain = request.getfixturevalue(name)
        sources = write_sources(corpus_dir / (name + suffix), plain, suffix, compress)
        result = fastevlog.count([path for path, _ in sources], jobs=2, _block_size=SMALL_BLOCK)
        assert result.as_json() == expected(sources)
        assert result.damaged == []

    def test_one_directory(self, tmp_path, every_source):
        """A directory is every *.log in it, at any depth; its files' source is the directory as given."""
        for index, (_, data) in enumerate(every_source):
            (tmp_path / str(index % 3) / str(index % 5)).mkdir(parents=True, exist_ok=True)
            (tmp_path / str(index % 3) / str(index % 5) / f"{index}.log").write_bytes(data)
        result = fastevlog.count(str(tmp_path), ("source", "level", "event_id"), jobs=3)
        in_tree = [(str(tmp_path), data) for _, data in every_source]
        assert result.as_json() == expected(in_tree, ("source", "level", "event_id"))


# -- keys and filters --------------------------------------------------------------------------------

BYS = [
    ("level",), ("event_id",), ("minute",), ("hour",), ("day",), ("source",), ("field:host",),
    ("field:message",), ("field:n",), ("field:note",), ("day", "hour", "minute"), ("hour", "level"),
    ("source", "event_id", "minute"), ("field:host", "event_id", "day"), ("event_id", "level"),
]


class TestKeys:
    @pytest.mark.parametrize("by", BYS, ids=",".join)
    def test_by(self, other, hostile, damaged, by):
        """Each key alone and together, in any order, on every line shape."""
        sources = other + hostile + damaged
        assert counted([path for path, _ in sources], by, jobs=2) == expected(sources, by)

    def test_by_as_str(self, other):
        """by may be one comma-separated str."""
        assert counted(other[0][0], "event_id,hour") == expected(other, ("event_id", "hour"))

    def test_field_values(self, tmp_path):
        """A field's value: str and int as themselves, escapes unescaped, null and missing None, other
        values as their compact JSON (1.50 is 1.5, true is not 1), ints of any length."""
        values = ['"ab"', '"a\\u0062"', "1.50", "1.5", "true", "1", "null", "[1, 2]", "[1,2]",
                  '{"a" : 1}', "1e400", "-0", '"\\ud800"', "9" * 5000, "[" + "8" * 5000 + "]", '"\u00e9"']
        lines = [f'{{"level":"INFO","event_id":1,"host": {value} }}\n' for value in values]
        lines.append('{"level":"INFO","event_id":1}\n')
        source = write_sources(tmp_path, [("s", "".join(lines).encode())])
        result = fastevlog.count(source[0][0], "field:host")
        assert result.as_json() == expected(source, ("field:host",))
        assert result.groups[("ab",)] == 2
        assert result.groups[(None,)] == 2
        assert result.groups[("1.5",)] == 2
        assert result.groups[("[1,2]",)] == 2
        assert result.groups[("true",)] == 1
        assert result.groups[(1,)] == 1 and result.groups[(0,)] == 1
        assert result.groups[("Infinity",)] == 1
        assert result.groups[("\ufffd",)] == 1
        assert result.groups[(reference._exact_int("9" * 5000),)] == 1

    def test_long_int_ids(self, tmp_path):
        """An id of 5,000 digits keeps its value through the glob and the JSON (3.11+ would refuse str())."""
        long_id = "7" * 5000
        data = f'{{"level":"INFO","event_id":{long_id}}}\n{{"level":"INFO","event_id":-{long_id}}}\n'.encode()
        source = write_sources(tmp_path, [("s", data)])
        for glob in (None, "7*", "-*", "*6"):
            options = {} if glob is None else {"event_id": glob}
            assert counted(source[0][0], **options) == expected(source, **options)

    def test_source_is_the_path_as_given(self, tmp_path, other):
        """The source key is the PATH argument, not the file's absolute path."""
        data = other[0][1]
        (tmp_path / "host1").mkdir()
        (tmp_path / "host1" / "a.log").write_bytes(data)
        (tmp_path / "b.log").write_bytes(data)
        given = [str(tmp_path / "host1") + "/", str(tmp_path / "b.log")]
        result = fastevlog.count(given, ("source",))
        assert set(result.groups) == {(given[0],), (given[1],)}


class TestFilters:
    WINDOWS = [
        {"since": "2026-11-28T16:03:05Z"},
        {"until": "2026-11-28T16:03:05Z"},
        {"since": "2026-11-28T17:03:05.5+01:00"},
        {"since": "2026-11-28T16:03:05.4999999999999Z", "until": "2026-11-28T16:59:59.999999999Z"},
        {"since": "2026-11-28", "until": "2026-11-29"},
        {"since": "2026-11-28T16:03", "until": "2026-11-29T00:00:00"},
        {"since": "2026-11-28 16:03:05-00:30"},
        {"since": datetime(2026, 11, 28, 16, 3, 5, 500000, tzinfo=timezone.utc)},
        {"until": datetime(2026, 11, 28, 17, 3, 5, tzinfo=timezone(timedelta(hours=1)))},
    ]

    @pytest.mark.parametrize("window", WINDOWS, ids=str)
    def test_window(self, other, damaged, window):
        """since inclusive, until exclusive, exactly; lines without a readable timestamp are bad."""
        sources = other + damaged
        for by in (DEFAULT_BY, ("minute",)):
            assert counted([path for path, _ in sources], by, **window) == expected(sources, by, **window)

    @pytest.mark.parametrize("levels", ["ERROR", "warn,Info", ["fatal", "DEBUG"], ("critical",), ["NOPE"]])
    def test_levels(self, other, hostile, levels):
        """Levels in any case, WARN and FATAL as WARNING and CRITICAL, on both sides."""
        sources = other + hostile
        for by in (DEFAULT_BY, ("event_id",), ("source",)):
            assert counted([path for path, _ in sources], by, levels=levels) == \
                expected(sources, by, levels=levels)

    @pytest.mark.parametrize("glob", ["event_*", "7", "-*", "[ae]*", "[!e]*", "?", "*\u2028*", "*"])
    def test_event_id(self, other, hostile, glob):
        """A glob on the id's text, case-sensitive; an int id in decimal."""
        sources = other + hostile
        for by in (DEFAULT_BY, ("level", "hour")):
            assert counted([path for path, _ in sources], by, event_id=glob) == \
                expected(sources, by, event_id=glob)

    def test_every_filter_at_once(self, other, damaged):
        sources = other + damaged
        options = {"levels": ["warning", "ERROR"], "event_id": "*", "since": "2026-11-28T16:00",
                   "until": "2026-11-29"}
        assert counted([path for path, _ in sources], ("source", "day"), **options) == \
            expected(sources, ("source", "day"), **options)


# -- reading -----------------------------------------------------------------------------------------

class TestReading:
    def test_blocks_of_every_size(self, tmp_path, hostile):
        """Lines across block ends, 1 MiB lines in 4 KiB blocks, a CRLF cut between its CR and LF."""
        data = b"".join(corpus.crlf(data) for _, data in hostile)
        source = write_sources(tmp_path, [("s", data)])
        want = expected(source)
        for block_size in (1, 2, 5, 4096, 65536 + 3):
            assert counted(source[0][0], _block_size=block_size) == want, block_size

    def test_nul_gap_stops_the_source(self, tmp_path):
        """A live file's unwritten range: nothing from it on counts, not even in bytes; the next file does."""
        line = b'{"level":"INFO","event_id":"a"}\n'
        data = line * 100 + line[:10] + b"\0" * 5000 + line * 100
        sources = write_sources(tmp_path, [("a", data), ("b", line)])
        for block_size in (SMALL_BLOCK, 100 * len(line) + 5, _count.BLOCK_SIZE):
            result = fastevlog.count([path for path, _ in sources], _block_size=block_size)
            assert (result.total, result.bad_lines, result.bytes) == (101, 1, 101 * len(line) + 10)

    def test_gzip_truncated(self, tmp_path, other):
        """A cut .gz: the lines that decompressed count, its torn tail is bad, the file is reported."""
        data = other[0][1]
        compressed = gzip.compress(data)
        cut = compressed[:len(compressed) // 2]
        path = tmp_path / "cut.log.gz"
        path.write_bytes(cut)
        inflated = zlib.decompressobj(wbits=31).decompress(cut)
        result = fastevlog.count(str(path), _block_size=SMALL_BLOCK)
        assert result.as_json() == expected([(str(path), inflated)])
        assert result.damaged == [(str(path), "truncated: the gzip stream ends inside a member")]

    def test_gzip_corrupt(self, tmp_path, other):
        """A .gz whose data is corrupt: reported, not raised; what came before counts."""
        compressed = bytearray(gzip.compress(other[0][1]))
        compressed[len(compressed) // 2:len(compressed) // 2 + 8] = b"\xff" * 8
        path = tmp_path / "corrupt.log.gz"
        path.write_bytes(compressed)
        result = fastevlog.count([str(path), other[0][0]])
        assert [damage.path for damage in result.damaged] == [str(path)]
        assert result.damaged[0].reason.startswith("corrupt gzip data")
        assert result.files == 2

    def test_gzip_zero_padding(self, tmp_path, other):
        """Zeros after a gzip member (tape padding, which gzip(1) accepts) are not data."""
        data = other[0][1]
        path = tmp_path / "padded.log.gz"
        path.write_bytes(gzip_members(data) + b"\0" * 1000)
        result = fastevlog.count(str(path))
        assert result.as_json() == expected([(str(path), data)])
        assert result.damaged == []

    def test_zstd_truncated(self, tmp_path, other):
        """A cut .zst: what decompressed counts, the file is reported."""
        compressed = zstandard.ZstdCompressor().compress(other[0][1])
        for cut_at in (len(compressed) // 2, len(compressed) - 1, 5):
            cut = compressed[:cut_at]
            path = tmp_path / f"cut{cut_at}.log.zst"
            path.write_bytes(cut)
            inflated = zstandard.ZstdDecompressor().stream_reader(cut).read()
            result = fastevlog.count(str(path), _block_size=SMALL_BLOCK)
            assert result.as_json() == expected([(str(path), inflated)])
            assert result.damaged == [(str(path), "truncated: the zstd stream ends inside a frame")]

    def test_zstd_trailing_garbage(self, tmp_path, other):
        """Bytes after the last frame that are not a frame: reported, the frames before counted whole."""
        data = other[0][1]
        path = tmp_path / "garbage.log.zst"
        path.write_bytes(zstandard.ZstdCompressor().compress(data) + b"not zstd")
        result = fastevlog.count(str(path))
        assert result.as_json() == expected([(str(path), data)])
        assert result.damaged == [(str(path), "data after the last zstd frame is not zstd (not read)")]

    @pytest.mark.parametrize("tail", [b"", b"no", b"not zstd"])
    def test_compressed_in_tiny_reads(self, tmp_path, other, hostile, monkeypatch, tail):
        """Compressed bytes read 3 at a time: headers and magic numbers split across reads."""
        monkeypatch.setattr(_decompress, "COMPRESSED_READ_SIZE", 3)
        data = other[0][1] + hostile[0][1][:100000]
        (tmp_path / "a.log.gz").write_bytes(gzip_members(data, 5))
        (tmp_path / "b.log.zst").write_bytes(zstd_frames(data, 5) + tail)
        result = fastevlog.count(str(tmp_path), jobs=1)
        assert result.as_json() == expected([("x", data)] * 2)
        reasons = ["data after the last zstd frame is not zstd (not read)"] if tail else []
        assert [damage.reason for damage in result.damaged] == reasons

    def test_compression_by_magic_bytes(self, tmp_path, other):
        """A .log holding gzip or zstd data is read as such: the name does not decide."""
        data = other[0][1]
        (tmp_path / "a.log").write_bytes(gzip.compress(data))
        (tmp_path / "b.log").write_bytes(zstandard.ZstdCompressor().compress(data))
        result = fastevlog.count(str(tmp_path))
        assert result.as_json() == expected([("x", data), ("x", data)])

    def test_gzip_bomb_holds_one_block(self, tmp_path):
        """A small .gz inflating to 64 MiB is read a block at a time: memory stays near a block."""
        path = tmp_path / "bomb.log.gz"
        line = b'{"level":"INFO","event_id":"a"}\n'
        path.write_bytes(gzip.compress(line * (64 * 1024 * 1024 // len(line)), compresslevel=9))
        tracemalloc.start()
        try:
            result = fastevlog.count(str(path), jobs=1, _block_size=1 << 20)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert result.total == 64 * 1024 * 1024 // len(line)
        assert peak < 8 << 20

    def test_zstd_without_zstandard(self, tmp_path, other, monkeypatch):
        """No zstandard package: an error naming the file and the extra, from any worker."""
        zst = tmp_path / "a.log.zst"
        zst.write_bytes(zstandard.ZstdCompressor().compress(other[0][1]))
        monkeypatch.setitem(sys.modules, "zstandard", None)
        with pytest.raises(RuntimeError, match=r'a\.log\.zst.*pip install "fastevlog\[zstd\]"'):
            fastevlog.count([other[0][0], str(zst), other[0][0]], jobs=3)

    def test_directory_picks_log_files(self, tmp_path, other):
        """*.log, *.log.gz, *.log.zst at any depth; not other names, not directories named *.log."""
        data = other[0][1]
        (tmp_path / "sub" / "deeper").mkdir(parents=True)
        (tmp_path / "dir.log").mkdir()
        (tmp_path / "a.log").write_bytes(data)
        (tmp_path / "sub" / "b.log.gz").write_bytes(gzip.compress(data))
        (tmp_path / "sub" / "deeper" / "c.log.zst").write_bytes(zstandard.ZstdCompressor().compress(data))
        for ignored in ("a.log.1", "notes.txt", "a.log.bz2", "sub/x.json", "dir.log/inside.txt"):
            (tmp_path / ignored).write_bytes(b"garbage\n")
        result = fastevlog.count(str(tmp_path))
        assert result.as_json() == expected([("x", data)] * 3)

    def test_empty_directory(self, tmp_path):
        result = fastevlog.count(str(tmp_path))
        assert (result.files, result.total, result.groups) == (0, 0, {})

    def test_progress_bar(self, other, capsys):
        """progress=True draws a bar on stderr and counts the same."""
        pytest.importorskip("tqdm")
        result = fastevlog.count(other[0][0], progress=True)
        assert result.as_json() == expected(other[:1])
        assert "counting" in capsys.readouterr().err


class TestLiveFiles:
    @pytest.mark.parametrize("compress", [None, "gzip"])
    def test_counting_while_a_logger_writes(self, tmp_path, compress):
        """Counts taken while a logger writes its files (and compresses the closed ones) never exceed
        what was logged, and each file has at most one bad line (the one being written, or cut by a
        range not written yet); once the logger stops, every event counts and no line is bad."""
        events = 60000
        logger = fastevlog.EventLogCounter(directory=str(tmp_path), log_file="live", flush_interval=0.005,
                                           max_file_size=300_000, num_workers=4, compress=compress)

        def produce() -> None:
            for index in range(events):
                logger.log("INFO" if index % 2 else "ERROR", f"event_{index % 7}", "x" * (index % 50))
                if index % 1000 == 999:
                    time.sleep(0.005)  # for the counts to see files at many stages

        producer = threading.Thread(target=produce)
        producer.start()
        try:
            writing = True
            while writing:
                writing = producer.is_alive()
                result = fastevlog.count(str(tmp_path), jobs=2, _block_size=4096)
                assert result.total <= events
                assert result.bad_lines <= result.files
        finally:
            producer.join()
            logger.stop()
        result = fastevlog.count(str(tmp_path), _block_size=4096)
        assert (result.total, result.bad_lines) == (events, 0)
        assert result.groups[("ERROR", "event_0")] == len(range(0, events, 14))


class TestCompressionMeanwhile:
    """A directory counted while a logger compresses (X.log -> temporary -> X.log.zst, then X.log
    removed) or deletes its closed files: every event once, whenever the count looks."""

    @staticmethod
    def compress(path: Path, suffix: str = ".zst") -> Path:
        """What the compressor leaves: X.log's content compressed into X.log.zst (or .gz)."""
        data = path.read_bytes()
        target = path.with_name(path.name + suffix)
        compressed = zstandard.ZstdCompressor().compress(data) if suffix == ".zst" else gzip.compress(data)
        target.write_bytes(compressed)
        return target

    def test_original_and_compressed_count_once(self, tmp_path, other):
        """X.log beside its X.log.zst or X.log.gz (between rename and unlink): only X.log is read;
        a compressed file alone is read; a compressor's temporary is not."""
        data = other[0][1]
        for name in ("a", "b", "c", "d"):
            (tmp_path / f"{name}.log").write_bytes(data)
        self.compress(tmp_path / "a.log")
        self.compress(tmp_path / "b.log", ".gz")
        self.compress(tmp_path / "c.log")
        (tmp_path / "c.log").unlink()
        self.compress(tmp_path / "d.log", ".gz")
        (tmp_path / "d.log").unlink()
        (tmp_path / ".e.log.zst.tmp").write_bytes(zstandard.ZstdCompressor().compress(data))
        result = fastevlog.count(str(tmp_path))
        assert result.as_json() == expected([("x", data)] * 4)
        assert result.files == 4

    def test_gone_before_its_look(self, tmp_path, other, monkeypatch):
        """X.log listed, then compressed away before count looks at it: read from X.log.zst."""
        data = other[0][1]
        (tmp_path / "a.log").write_bytes(data)
        (tmp_path / "b.log").write_bytes(data)
        walk = _count.os.walk

        def walk_then_compress(top, **options):
            for parent, subdirectories, files in walk(top, **options):
                if "a.log" in files:  # the listing is taken: now the compressor finishes
                    self.compress(Path(parent) / "a.log")
                    (Path(parent) / "a.log").unlink()
                yield parent, subdirectories, files

        monkeypatch.setattr(_count.os, "walk", walk_then_compress)
        result = fastevlog.count(str(tmp_path))
        assert result.as_json() == expected([("x", data)] * 2)
        assert result.files == 2

    @pytest.mark.parametrize("siblings, read", [((".zst",), ".zst"), ((".gz",), ".gz"),
                                                 ((".gz", ".zst"), ".zst"), ((), None)])
    def test_gone_before_its_open(self, tmp_path, other, monkeypatch, siblings, read):
        """X.log listed, then gone when opened: read from X.log.zst, else X.log.gz; neither (retention
        deleted it): skipped, not an error."""
        data, other_data = other[0][1], b'{"level":"INFO","event_id":"only in the .gz"}\n'
        (tmp_path / "a.log").write_bytes(data)
        (tmp_path / "b.log").write_bytes(data)
        open_source = _count._open_source

        def compressed_before_open(source):
            if source.path.endswith("a.log") and os.path.exists(source.path):
                for suffix in siblings:
                    self.compress(Path(source.path), suffix)
                if len(siblings) == 2:  # which one is read: the other holds different lines
                    (tmp_path / "a.log.gz").write_bytes(gzip.compress(other_data))
                os.unlink(source.path)
            return open_source(source)

        monkeypatch.setattr(_count, "_open_source", compressed_before_open)
        result = fastevlog.count(str(tmp_path), jobs=1)
        assert result.as_json() == expected([("x", data)] * (2 if read else 1))
        assert result.files == (2 if read else 1)

    def test_compressed_file_deleted_before_its_open(self, tmp_path, other, monkeypatch):
        """A listed X.log.zst deleted by retention before it is opened: skipped."""
        data = other[0][1]
        (tmp_path / "a.log").write_bytes(data)
        self.compress(tmp_path / "a.log")
        (tmp_path / "a.log").rename(tmp_path / "b.log")
        open_source = _count._open_source

        def deleted_before_open(source):
            if source.path.endswith("a.log.zst"):
                os.unlink(source.path)
            return open_source(source)

        monkeypatch.setattr(_count, "_open_source", deleted_before_open)
        result = fastevlog.count(str(tmp_path), jobs=1)
        assert (result.as_json(), result.files) == (expected([("x", data)]), 1)

    @pytest.mark.parametrize("kind", ["gzip", "zstd"])
    def test_at_every_step_of_a_real_compression(self, tmp_path, monkeypatch, kind):
        """The housekeeper's own compression, counted at each of its steps: every event once."""
        from fastevlog import _compression, _housekeeper

        line = b'{"timestamp":"2026-12-04T05:00:00Z","level":"INFO","event_id":"e","message":"m"}\n'
        lines = (_compression.CHUNK_BYTES * 3 // 2) // len(line)  # two chunks: a half-written temporary
        for stamp in ("20261204_050000", "20261204_050001"):
            (tmp_path / f"app_{stamp}.log").write_bytes(line * lines)
        totals = {}

        def count_now(step: str) -> None:
            totals[step] = fastevlog.count(str(tmp_path), jobs=1).total

        monkeypatch.setattr(_compression, "_reached", count_now)
        report = _housekeeper.housekeep(str(tmp_path), "app", compress=kind)
        assert report.files_compressed == 2
        assert set(totals) == set(_compression.STEPS)
        assert totals == {step: 2 * lines for step in _compression.STEPS}

    def test_path_given_by_name_is_read_as_given(self, tmp_path, other, monkeypatch):
        """A PATH named on its own is not replaced by its compressed sibling: gone, it is an error."""
        data = other[0][1]
        path = tmp_path / "a.log"
        path.write_bytes(data)
        open_source = _count._open_source

        def compressed_before_open(source):
            self.compress(path)
            path.unlink()
            return open_source(source)

        monkeypatch.setattr(_count, "_open_source", compressed_before_open)
        with pytest.raises(FileNotFoundError):
            fastevlog.count(str(path))


# -- Hypothesis --------------------------------------------------------------------------------------

hypothesis_bys = st.sampled_from([DEFAULT_BY, ("minute", "source"), ("field:host",), ("event_id", "day"),
                                  ("level",)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=st.lists(corpus.sources(), min_size=1, max_size=4), by=hypothesis_bys, jobs=st.integers(1, 3),
       block_size=st.sampled_from([1, 7, 64, 4096]),
       compression=st.sampled_from(["plain", "gzip", "zstd"]),
       levels=st.sampled_from([None, ["INFO", "warn"]]),
       window=st.sampled_from([{}, {"since": "2026-11-28T16:03:05Z"}, {"until": "2026-11-28"}]))
def test_mixed_sources(sources, by, jobs, block_size, compression, levels, window):
    """Mixed lines (fastevlog's, other writers', garbage), CRLF, cut anywhere, NUL gaps: as the reference."""
    compress = {"plain": lambda data: data, "gzip": gzip_members, "zstd": zstd_frames}[compression]
    with tempfile.TemporaryDirectory() as directory:
        written = write_sources(Path(directory), sources, compress=compress)
        options: Dict[str, object] = dict(window)
        if levels is not None:
            options["levels"] = levels
        got = counted([path for path, _ in written], by, jobs=jobs, _block_size=block_size, **options)
        assert got == expected(written, by, **options)


# -- the result --------------------------------------------------------------------------------------

class TestResult:
    def test_fields(self, other):
        result = fastevlog.count(other[0][0])
        want = reference.count_reference(other)
        assert (result.total, result.groups, result.files, result.bytes, result.bad_lines, result.by) == \
            (want.total, want.groups, want.files, want.bytes, want.bad_lines, DEFAULT_BY)
        assert "total=" in repr(result)

    @pytest.mark.parametrize("top", [1, 2, 5, 1000])
    def test_top(self, other, top):
        """top keeps the largest groups; the total stays the whole count."""
        result = fastevlog.count(other[0][0])
        want = reference.count_reference(other)
        assert result.as_json(top) == reference.as_json(want, DEFAULT_BY, top)
        assert result.sorted_groups(top) == reference.sorted_groups(want)[:top]

    def test_ties_in_key_order(self, tmp_path):
        """Equal counts: None first, then ints by value, then strings by code point."""
        ids = ['"b"', "10", '"a"', "-3", '"\u00e9"', '"Z"', "2", '"\U0001f600"', '"\uff41"']
        data = "".join(f'{{"level":"I","event_id":{event_id}}}\n' for event_id in ids).encode()
        source = write_sources(tmp_path, [("s", data)])
        result = fastevlog.count(source[0][0], "event_id")
        assert [key for key, _ in result.sorted_groups()] == \
            [(-3,), (2,), (10,), ("Z",), ("a",), ("b",), ("\u00e9",), ("\uff41",), ("\U0001f600",)]
        assert result.as_json() == expected(source, ("event_id",))

    def test_csv(self, other):
        """A header row of the keys and count, then the groups in order; None an empty cell."""
        import csv
        import io

        result = fastevlog.count(other[0][0], ("field:host", "event_id"))
        rows = list(csv.reader(io.StringIO(result.as_csv())))
        assert rows[0] == ["field:host", "event_id", "count"]
        assert rows[1:] == [["" if value is None else str(value) for value in key] + [str(count)]
                            for key, count in result.sorted_groups()]

    def test_table(self, other):
        """Aligned: every count ends in the same column; the last row is the total."""
        result = fastevlog.count(other[0][0], ("level", "event_id"))
        lines = result.as_table().split("\n")[:-1]  # str.splitlines would split at U+2028 too
        assert lines[0].split() == ["level", "event_id", "count"]
        assert len({len(line) for line in lines}) == 1
        assert lines[-1].split() == ["total", f"{result.total:,}"]
        assert len(lines) == len(result.groups) + 2
        shown = result.as_table(top=2).split("\n")[:-1]
        assert shown[-1] == f"(2 of {len(result.groups)} groups shown)"
        assert shown[-2].split() == ["total", f"{result.total:,}"]

    def test_table_shows_odd_values_as_json(self, tmp_path):
        data = b'{"level":"a\\nb","event_id":""}\n{"level":" x","event_id":null}\n'
        source = write_sources(tmp_path, [("s", data)])
        table = fastevlog.count(source[0][0], "level").as_table()
        assert '"a\\nb"' in table
        table = fastevlog.count(source[0][0], ("event_id", "field:nope")).as_table()
        assert '""' in table and "(none)" in table


# -- errors ------------------------------------------------------------------------------------------

class TestErrors:
    @pytest.mark.parametrize("options, error, message", [
        ({"by": "level,colour"}, ValueError, r"^by: unknown key 'colour'"),
        ({"by": ""}, ValueError, r"^by: unknown key ''"),
        ({"by": ()}, ValueError, r"^by: give at least one key"),
        ({"by": "level,level"}, ValueError, r"^by: a key is given twice"),
        ({"by": "field:a,field:b"}, ValueError, r"^by: one field:NAME key at a time"),
        ({"by": ["level", 3]}, TypeError, r"^by: each key must be a str"),
        ({"since": "yesterday"}, ValueError, r"^since='yesterday': expected RFC 3339"),
        ({"until": "2026-11-28T16:03:05+05:75"}, ValueError, r"^until="),
        ({"until": "2026-11-28T23:59:60Z"}, ValueError, r"^until="),
        ({"since": "2026-02-30"}, ValueError, r"^since="),
        ({"since": datetime(2026, 1, 1)}, ValueError, r"^since: a naive datetime"),
        ({"since": 1700000000}, TypeError, r"^since must be"),
        ({"since": "2026-11-29", "until": "2026-11-28"}, ValueError, r"window is empty"),
        ({"since": "2026-11-28T00:00:00.5Z", "until": "2026-11-28T00:00:00.50Z"}, ValueError,
         r"window is empty"),
        ({"levels": []}, ValueError, r"^levels: give at least one"),
        ({"levels": ["INFO", None]}, TypeError, r"^levels: each level must be a str"),
        ({"event_id": 7}, TypeError, r"^event_id must be a glob str"),
        ({"jobs": 0}, ValueError, r"^jobs must be at least 1"),
        ({"jobs": 1.5}, TypeError, r"^jobs must be an int"),
    ])
    def test_bad_argument(self, other, options, error, message):
        """Each bad argument is refused before reading, by a message that names it."""
        with pytest.raises(error, match=message):
            fastevlog.count(other[0][0], **options)

    def test_bad_paths(self, tmp_path):
        with pytest.raises(FileNotFoundError, match=r"^paths: '.*nowhere\.log' does not exist"):
            fastevlog.count([str(tmp_path), str(tmp_path / "nowhere.log")])
        with pytest.raises(ValueError, match=r"^paths: give at least one"):
            fastevlog.count([])
        with pytest.raises(ValueError, match=r"^paths: '-' \(standard input\) is given more than once"):
            fastevlog.count(["-", "-"])
        with pytest.raises(TypeError, match=r"^paths: each path must be a str"):
            fastevlog.count([3])

    def test_bad_top(self, other):
        result = fastevlog.count(other[0][0])
        with pytest.raises(ValueError, match=r"^top must be at least 1, not 0"):
            result.as_json(0)
        with pytest.raises(TypeError, match=r"^top must be an int"):
            result.sorted_groups("3")

    def test_pathlike(self, other):
        assert counted(Path(other[0][0])) == counted([other[0][0]])
