"""Which log files are closed: names, forms, and the locks and buffer files that keep a file open."""

import fcntl
import os
import signal
import subprocess
import sys

import pytest
from dead_buffers import STAMP, Ring, Segment, lines
from support import child_env

from fastevlog import _closed_files
from fastevlog._closed_files import (
    FileInUse,
    claim_closed,
    hold_for_writing,
    list_log_files,
    log_file_pattern,
    stamps_in_use,
)
from fastevlog._directory import LogDirectory

LOG_FILE = "async_buffered_logs"


@pytest.fixture
def directory(tmp_path):
    opened = LogDirectory(str(tmp_path), 0o640)
    yield opened
    opened.close()


def write(tmp_path, name, data=b'{"n":1}\n'):
    (tmp_path / name).write_bytes(data)
    return tmp_path / name


def names(claims):
    return sorted(held.name for held in claims)


def release(claims):
    for held in claims:
        held.close()


@pytest.mark.parametrize("name, match", [
    ("app_20261204_010203.log", ("app", "20261204_010203", "")),
    ("app_20261204_010203_000001.log.gz", ("app", "20261204_010203_000001", ".gz")),
    ("app_20261204_010203_recovered_42.log.zst", ("app", "20261204_010203_recovered_42", ".zst")),
    ("app_20261204_010203_000001_recovered_7.log", ("app", "20261204_010203_000001_recovered_7", "")),
    ("app_x_20261204_010203.log", None),  # another log_file's
    ("app_20261204_010203.log.bz2", None),
    ("app_20261204_010203.log.gz.tmp", None),
    (".app_20261204_010203.log.gz.tmp", None),
    ("app_2026120_010203.log", None),
    ("app.1-0.buffer", None),
])
def test_names_of_a_log_files_files(name, match):
    found = log_file_pattern("app").fullmatch(name)
    assert (found.groups() if found else None) == match


def test_any_base_when_log_file_is_none():
    assert log_file_pattern(None).fullmatch("a_b_20261204_010203.log.gz").group(1) == "a_b"


def test_forms_are_grouped_oldest_first(tmp_path, directory):
    for name in ["app_20261204_010203_000001.log", "app_20261204_010203.log.zst",
                 "app_20261204_010203.log", "app_20261204_010203_000001.log.gz",
                 "app_20261203_235959.log.gz", "other_20261204_010203.log",
                 ".app_20261204_010203.log.zst.tmp"]:
        write(tmp_path, name)
    files = list_log_files(directory, "app")
    assert [(f.name, f.stamp, f.forms) for f in files] == [
        ("app_20261203_235959.log", "20261203_235959", ["app_20261203_235959.log.gz"]),
        ("app_20261204_010203.log", "20261204_010203",
         ["app_20261204_010203.log", "app_20261204_010203.log.zst"]),
        ("app_20261204_010203_000001.log", "20261204_010203_000001",
         ["app_20261204_010203_000001.log", "app_20261204_010203_000001.log.gz"]),
    ]


def test_a_closed_file_is_claimed_and_held_exclusively(tmp_path, directory):
    path = write(tmp_path, f"{LOG_FILE}_{STAMP}.log")
    claims = claim_closed(directory, LOG_FILE, list_log_files(directory, LOG_FILE))
    assert names(claims) == [path.name]
    other = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_SH | fcntl.LOCK_NB)
        release(claims)
        fcntl.flock(other, fcntl.LOCK_SH | fcntl.LOCK_NB)  # let go with the claim
    finally:
        os.close(other)


def test_a_file_open_for_writing_is_not_claimed(tmp_path, directory):
    path = write(tmp_path, f"{LOG_FILE}_{STAMP}.log")
    fd = os.open(path, os.O_WRONLY)
    hold_for_writing(fd, str(path))
    try:
        assert claim_closed(directory, LOG_FILE, list_log_files(directory, LOG_FILE)) == []
    finally:
        os.close(fd)
    release(claim_closed(directory, LOG_FILE, list_log_files(directory, LOG_FILE)) or [])


def test_a_file_written_by_another_process_is_claimed_only_once_it_ends(tmp_path, directory):
    path = write(tmp_path, f"{LOG_FILE}_{STAMP}.log")
    code = ("import os, sys, time; from fastevlog._closed_files import hold_for_writing\n"
            f"fd = os.open({str(path)!r}, os.O_WRONLY); hold_for_writing(fd, 'f')\n"
            "print('held', flush=True)\n"
            "time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], env=child_env(), cwd="/", stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"held\n"
        assert claim_closed(directory, LOG_FILE, list_log_files(directory, LOG_FILE)) == []
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    claims = claim_closed(directory, LOG_FILE, list_log_files(directory, LOG_FILE))
    assert names(claims) == [path.name]
    release(claims)


def test_an_empty_file_may_be_about_to_be_written(tmp_path, directory):
    write(tmp_path, f"{LOG_FILE}_{STAMP}.log", b"")
    assert claim_closed(directory, LOG_FILE, list_log_files(directory, LOG_FILE)) == []


@pytest.mark.parametrize("state", ["dead", "live"])
def test_a_file_a_buffer_records_pieces_for_is_not_claimed(tmp_path, directory, state):
    """Recovery will write the recorded piece into it (dead), or its owner may still (live)."""
    recorded = write(tmp_path, f"{LOG_FILE}_{STAMP}.log")
    moved = write(tmp_path, f"{LOG_FILE}_{STAMP}_recovered_0.log")  # where recovery moves an unusable piece
    other = write(tmp_path, f"{LOG_FILE}_20260101_120001.log")
    data = lines(0, 3)
    placements = [(STAMP, recorded.stat().st_size, 0, len(data))]
    buffer = Ring([Segment(data, placements=placements)]).plant(tmp_path)
    fd = os.open(buffer, os.O_RDONLY)
    if state == "live":
        fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert stamps_in_use(directory, LOG_FILE) == {STAMP}
        claims = claim_closed(directory, LOG_FILE, list_log_files(directory, LOG_FILE))
        assert names(claims) == [other.name]
        release(claims)
    finally:
        os.close(fd)
    assert moved.exists() and recorded.exists()


def test_a_free_segment_records_nothing(tmp_path, directory):
    Ring([Segment(lines(0, 1), state=0, placements=[(STAMP, 0, 0, 10)])]).plant(tmp_path)
    assert stamps_in_use(directory, LOG_FILE) == set()


def test_a_buffer_being_created_records_nothing(tmp_path, directory):
    (tmp_path / f"{LOG_FILE}.1-0.buffer").write_bytes(bytes(64 * 1024))
    assert stamps_in_use(directory, LOG_FILE) == set()


def test_an_unreadable_buffer_closes_nothing(tmp_path, directory):
    """Planted junk where a buffer file belongs: no file is known closed until recovery sets it aside."""
    write(tmp_path, f"{LOG_FILE}_{STAMP}.log")
    (tmp_path / f"{LOG_FILE}.1-0.buffer").write_bytes(b"junk" * 100)
    assert stamps_in_use(directory, LOG_FILE) is None
    assert claim_closed(directory, LOG_FILE, list_log_files(directory, LOG_FILE)) is None
    fd = os.open(tmp_path / f"{LOG_FILE}_{STAMP}.log", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # no claim was left held
    finally:
        os.close(fd)


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory"])
def test_what_is_no_regular_file_is_never_claimed(tmp_path, directory, kind):
    target = write(tmp_path, "elsewhere", b"x\n")
    name = tmp_path / f"{LOG_FILE}_{STAMP}.log"
    {"symlink": lambda: name.symlink_to(target), "fifo": lambda: os.mkfifo(name),
     "directory": lambda: name.mkdir()}[kind]()
    assert claim_closed(directory, LOG_FILE, list_log_files(directory, LOG_FILE)) == []


def test_holding_for_writing_gives_up_on_a_file_locked_against_it(tmp_path, monkeypatch):
    path = write(tmp_path, "f.log")
    monkeypatch.setattr(_closed_files, "_LOCK_TRIES", 3)
    holder = os.open(path, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    fd = os.open(path, os.O_WRONLY)
    try:
        with pytest.raises(FileInUse, match="exclusive lock"):
            hold_for_writing(fd, str(path))
        os.close(holder)
        holder = -1
        hold_for_writing(fd, str(path))
    finally:
        os.close(fd)
        if holder >= 0:
            os.close(holder)


def test_the_logger_holds_its_file_until_it_is_closed(tmp_path, directory):
    import fastevlog
    with fastevlog.EventLogCounter(directory=tmp_path, max_file_size=1000) as logger:
        for n in range(100):
            logger.info("e", "m" * 20, n=n)
        logger.flush()
        files = list_log_files(directory, LOG_FILE)
        claims = claim_closed(directory, LOG_FILE, files)
        # Every file but the one being written is closed (its segment may still record the newest ones).
        assert len(files) - 2 <= len(claims) < len(files)
        assert files[-1].name not in names(claims)
        release(claims)
    claims = claim_closed(directory, LOG_FILE, list_log_files(directory, LOG_FILE))
    assert len(claims) == len(files)
    release(claims)


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory"])
def test_what_is_no_regular_file_is_no_buffer(tmp_path, directory, kind):
    """Planted under a buffer file's name, it blocks no compression: loggers make regular files."""
    write(tmp_path, f"{LOG_FILE}_{STAMP}.log")
    name = tmp_path / f"{LOG_FILE}.1-0.buffer"
    target = Ring([Segment(lines(0, 1), placements=[(STAMP, 0, 0, len(lines(0, 1)))])]).plant(tmp_path, "x")
    {"symlink": lambda: name.symlink_to(target), "fifo": lambda: os.mkfifo(name),
     "directory": lambda: name.mkdir()}[kind]()
    assert stamps_in_use(directory, LOG_FILE) == set()
