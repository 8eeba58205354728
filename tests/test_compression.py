"""Compressing one closed file, and finishing what a compression cut short left."""

import fcntl
import gzip
import logging
import os

import pytest

from fastevlog import _compression
from fastevlog._closed_files import claim_closed, list_log_files
from fastevlog._compression import Compressor, Stopped, finish_compressions, temporary_name
from fastevlog._directory import LogDirectory

zstandard = pytest.importorskip("zstandard")

LOG_FILE = "app"
NAME = "app_20261204_010203.log"
KINDS = ["gzip", "zstd"]


def decompress(path):
    data = path.read_bytes()
    if path.suffix == ".gz":
        return gzip.decompress(data)
    reader = zstandard.ZstdDecompressor().decompressobj()
    out = reader.decompress(data)
    assert reader.eof, f"{path.name} is cut short"
    return out


def log_lines(count, first=0):
    return b"".join(b'{"level":"INFO","event_id":"e","n":%d,"pad":"%s"}\n' % (n, b"x" * (n % 97))
                    for n in range(first, first + count))


@pytest.fixture
def directory(tmp_path):
    opened = LogDirectory(str(tmp_path), 0o640)
    yield opened
    opened.close()


def claim(directory, name=NAME):
    files = [f for f in list_log_files(directory, LOG_FILE) if f.name == name]
    claims = claim_closed(directory, LOG_FILE, files)
    assert claims, f"{name} is not closed"
    return claims[0]


def listing(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir())


@pytest.mark.parametrize("kind", KINDS)
def test_the_compressed_file_replaces_the_original(tmp_path, directory, kind):
    data = log_lines(40_000)  # more than one chunk
    assert len(data) > _compression.CHUNK_BYTES
    original = tmp_path / NAME
    original.write_bytes(data)
    os.chmod(original, 0o604)
    os.utime(original, ns=(1_700_000_000_000_000_000, 1_700_000_001_000_000_000))
    compressor = Compressor(kind)
    held = claim(directory)
    try:
        size = compressor.compress(directory, held)
    finally:
        held.close()
    final = tmp_path / (NAME + compressor.suffix)
    assert listing(tmp_path) == [final.name]
    assert decompress(final) == data and size == final.stat().st_size < len(data) // 4
    assert final.stat().st_mtime_ns == 1_700_000_001_000_000_000  # retention ages it by the last write
    assert final.stat().st_mode & 0o777 == 0o604


def test_levels():
    assert (Compressor("gzip").level, Compressor("zstd").level, Compressor("zstd", 19).level) == (6, 3, 19)


@pytest.mark.parametrize("kind", KINDS)
def test_the_steps_come_in_order(tmp_path, directory, kind, monkeypatch):
    """Each step is reached once, in order, with the directory as the step says."""
    (tmp_path / NAME).write_bytes(log_lines(40_000))
    compressor = Compressor(kind)
    final, temporary = NAME + compressor.suffix, temporary_name(NAME + compressor.suffix)
    seen = []
    monkeypatch.setattr(_compression, "_reached", lambda step: seen.append((step, listing(tmp_path))))
    held = claim(directory)
    try:
        compressor.compress(directory, held)
    finally:
        held.close()
    assert seen == [
        ("claimed", [NAME]),
        ("temporary created", sorted([NAME, temporary])),
        ("temporary half written", sorted([NAME, temporary])),
        ("temporary synced", sorted([NAME, temporary])),
        ("renamed", [NAME, final]),
        ("directory synced", [NAME, final]),
        ("original removed", [final]),
    ]
    assert list(_compression.STEPS) == [step for step, _ in seen]


def test_a_stale_temporary_is_replaced(tmp_path, directory):
    data = log_lines(100)
    (tmp_path / NAME).write_bytes(data)
    (tmp_path / temporary_name(NAME + ".gz")).write_bytes(b"half a gzip file")
    held = claim(directory)
    try:
        Compressor("gzip").compress(directory, held)
    finally:
        held.close()
    assert listing(tmp_path) == [NAME + ".gz"] and decompress(tmp_path / (NAME + ".gz")) == data


def test_stopping_gives_up_and_keeps_the_original(tmp_path, directory):
    data = log_lines(40_000)
    (tmp_path / NAME).write_bytes(data)
    held = claim(directory)
    try:
        with pytest.raises(Stopped):
            Compressor("zstd").compress(directory, held, stopping=lambda: True)
    finally:
        held.close()
    assert listing(tmp_path) == [NAME] and (tmp_path / NAME).read_bytes() == data


def test_a_failed_write_removes_the_temporary(tmp_path, directory, monkeypatch):
    data = log_lines(40_000)
    (tmp_path / NAME).write_bytes(data)

    def full_disk(step):
        if step == "temporary half written":
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(_compression, "_reached", full_disk)
    held = claim(directory)
    try:
        with pytest.raises(OSError, match="No space"):
            Compressor("gzip").compress(directory, held)
    finally:
        held.close()
    assert listing(tmp_path) == [NAME] and (tmp_path / NAME).read_bytes() == data


def test_an_original_removed_by_hand_is_not_brought_back(tmp_path, directory, monkeypatch, caplog):
    (tmp_path / NAME).write_bytes(log_lines(40_000))
    monkeypatch.setattr(_compression, "_reached",
                        lambda step: step == "temporary half written" and os.unlink(tmp_path / NAME))
    held = claim(directory)
    try:
        assert Compressor("zstd").compress(directory, held) is None
    finally:
        held.close()
    assert listing(tmp_path) == []
    assert "removed while being compressed" in caplog.text


@pytest.mark.parametrize("kind", KINDS)
def test_a_whole_copy_beside_its_original_finishes_the_compression(tmp_path, directory, kind):
    data = log_lines(1000)
    (tmp_path / NAME).write_bytes(data)
    compressor = Compressor(kind)
    (tmp_path / (NAME + compressor.suffix)).write_bytes(
        gzip.compress(data) if kind == "gzip" else zstandard.ZstdCompressor().compress(data))
    assert finish_compressions(directory, LOG_FILE) == 1
    assert listing(tmp_path) == [NAME + compressor.suffix]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("damage", ["cut", "other content", "junk", "empty"])
def test_a_copy_that_is_not_whole_goes_and_the_original_stays(tmp_path, directory, kind, damage, caplog):
    caplog.set_level(logging.ERROR, logger="fastevlog")
    data = log_lines(1000)
    (tmp_path / NAME).write_bytes(data)
    compress = gzip.compress if kind == "gzip" else zstandard.ZstdCompressor().compress
    copy = {"cut": compress(data)[:-9], "other content": compress(data[:-1] + b"X"), "junk": b"junk" * 10,
            "empty": b""}[damage]
    (tmp_path / (NAME + Compressor(kind).suffix)).write_bytes(copy)
    assert finish_compressions(directory, LOG_FILE) == 0
    assert listing(tmp_path) == [NAME] and (tmp_path / NAME).read_bytes() == data
    assert "not a whole compressed copy" in caplog.text


def test_leftover_temporaries_are_removed_unless_a_compressor_holds_the_original(tmp_path, directory):
    (tmp_path / NAME).write_bytes(log_lines(10))
    held_name = "app_20261204_010204.log"
    (tmp_path / held_name).write_bytes(log_lines(10))
    for name in [NAME, held_name, "app_20261204_010205.log"]:  # the last one's original is gone
        (tmp_path / temporary_name(name + ".zst")).write_bytes(b"partial")
    (tmp_path / temporary_name("other_20261204_010205.log.zst")).write_bytes(b"another log_file's")
    holder = os.open(tmp_path / held_name, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # a live compressor's claim
    try:
        assert finish_compressions(directory, LOG_FILE) == 0
    finally:
        os.close(holder)
    assert listing(tmp_path) == sorted([NAME, held_name, temporary_name(held_name + ".zst"),
                                        temporary_name("other_20261204_010205.log.zst")])


def test_finish_leaves_what_a_live_writer_holds(tmp_path, directory):
    """A plain file beside a copy, still written: not the leftover of a compression; left alone."""
    (tmp_path / NAME).write_bytes(log_lines(10))
    (tmp_path / (NAME + ".gz")).write_bytes(gzip.compress(log_lines(10)))
    writer = os.open(tmp_path / NAME, os.O_WRONLY)
    fcntl.flock(writer, fcntl.LOCK_SH)
    try:
        assert finish_compressions(directory, LOG_FILE) == 0
    finally:
        os.close(writer)
    assert listing(tmp_path) == [NAME, NAME + ".gz"]


def test_zstd_missing_keeps_both_of_a_pair(tmp_path, directory, monkeypatch, caplog):
    data = log_lines(10)
    (tmp_path / NAME).write_bytes(data)
    (tmp_path / (NAME + ".zst")).write_bytes(zstandard.ZstdCompressor().compress(data))
    monkeypatch.setitem(__import__("sys").modules, "zstandard", None)
    assert finish_compressions(directory, LOG_FILE) == 0
    assert listing(tmp_path) == [NAME, NAME + ".zst"]
    assert "cannot read" in caplog.text


@pytest.mark.parametrize("kind, level", [("gzip", 0), ("gzip", 10), ("zstd", 0), ("zstd", 23)])
def test_a_level_out_of_range_is_refused_naming_it(kind, level):
    with pytest.raises(ValueError, match=f"compress_level must be .* for compress='{kind}', not {level}"):
        Compressor(kind, level)
