"""Faults during a compression: SIGKILL at each step, a full disk, a file removed by hand meanwhile.

Whatever happens, every event stays in the directory exactly once under a final name, no half file
is ever under one, and the next logger (or ``fastevlog recover``) leaves no temporary and no original
beside its compressed copy.
"""

from __future__ import annotations

import errno
import gzip
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from dead_buffers import LOG_FILE, STAMP, Ring, Segment, lines
from support import (
    child_env,
    contents_of,
    events_in,
    final_paths,
    mounted_tmpfs,
    plain_beside_compressed,
    temporaries,
    wait_until,
)

import fastevlog
from fastevlog import EventLogCounter, _compression
from fastevlog._directory import LogDirectory
from fastevlog._housekeeper import housekeep

SUFFIXES = {"gzip": ".gz", "zstd": ".zst"}
HAVE_ZSTANDARD = importlib.util.find_spec("zstandard") is not None
KINDS = ["gzip", pytest.param("zstd", marks=pytest.mark.skipif(not HAVE_ZSTANDARD, reason="the zstd extra"))]
EVENTS = 2000
# Small chunks, so that "temporary half written" (after the first chunk of a file of two or more) is
# reached with files of a few tens of KB: big files would make each child slower, not the test sharper.
SMALL_CHUNK = 16 * 1024

# A child that logs EVENTS events with compression on and SIGKILLs itself when the first compression
# reaches the step.  The housekeeper waits there until every event is in its file: what the kill
# leaves is then the compression's doing alone (the flush would otherwise race the kill).
KILLED_AT_STEP = """
import os, signal, sys, threading
import fastevlog
from fastevlog import _compression
directory, compress, step = sys.argv[1:4]
events, chunk = int(sys.argv[4]), int(sys.argv[5])
assert step in _compression.STEPS, step
assert hasattr(_compression, "CHUNK_BYTES")  # renamed? then "temporary half written" needs bigger files
_compression.CHUNK_BYTES = chunk
flushed = threading.Event()

def reached(at):
    if at == step:
        flushed.wait(30)
        os.kill(os.getpid(), signal.SIGKILL)

_compression._reached = reached
logger = fastevlog.EventLogCounter(directory=directory, compress=compress, max_file_size=60_000,
                                   buffer_bytes=256 * 1024, flush_interval=0.01)
for seq in range(events):
    logger.info("e", "m" * (seq % 97), seq=seq)
logger.flush()
flushed.set()
threading.Event().wait(30)
print("not killed: no compression reached", step, flush=True)
os._exit(3)
"""

# What the directory holds right after a kill at each step, for the file being compressed.
#   (its original there, its temporary there, its compressed copy there)
STATE_AFTER = {
    "claimed": (True, False, False),
    "temporary created": (True, True, False),
    "temporary half written": (True, True, False),
    "temporary synced": (True, True, False),
    "renamed": (True, False, True),
    "directory synced": (True, False, True),
    "original removed": (False, False, True),
}


# The steps a pass takes once for the files it compressed so far (Housekeeping._settle), in order.
SETTLED_TOGETHER = ("directory synced", "original removed")


@pytest.fixture(scope="module")
def killed_directories(tmp_path_factory):
    """{(compress, step): a directory left by a child killed there}, made on first use, then copied."""
    made = {}

    def make(compress, step):
        if (compress, step) not in made:
            logs = tmp_path_factory.mktemp("killed") / "logs"
            logs.mkdir()
            child = subprocess.run([sys.executable, "-c", KILLED_AT_STEP, str(logs), compress, step,
                                    str(EVENTS), str(SMALL_CHUNK)],
                                   cwd="/", env=child_env(), capture_output=True, text=True, timeout=60)
            assert child.returncode == -9, (child.returncode, child.stdout, child.stderr)
            made[compress, step] = logs
        return made[compress, step]

    return make


def _seqs(directory):
    """Sequence numbers of every line under a final name (a file and its copy both read)."""
    return sorted(event["seq"] for path in final_paths(directory) for event in events_in(path))


def _check_left_clean(logs):
    assert temporaries(logs) == [], "a temporary was left"
    assert plain_beside_compressed(logs) == [], "an original was left beside its compressed copy"
    assert _seqs(logs) == list(range(EVENTS)), "an event is missing or is there twice"
    assert fastevlog.count(str(logs)).total == EVENTS


@pytest.mark.parametrize("compress", KINDS)
@pytest.mark.parametrize("step", _compression.STEPS)
def test_killed_at_a_step_leaves_one_whole_copy(killed_directories, tmp_path, compress, step):
    """SIGKILL at a step: no half file under a final name, every event counted once; the next logger
    cleans up: no temporary, no original beside its copy, every event once."""
    left = killed_directories(compress, step)
    finals = final_paths(left)
    compressed = [path for path in finals if not path.name.endswith(".log")]
    for path in finals:
        events_in(path)  # a .gz / .zst decompresses to its end; a .log holds whole lines
    for path in compressed:
        original = path.with_name(path.name[:-len(SUFFIXES[compress])])
        if original.exists():
            assert contents_of(path) == original.read_bytes(), f"{path.name} differs from its original"
    # The kill came where it was meant to: one file mid-way, in the state of that step.
    temps = temporaries(left)
    if STATE_AFTER[step][1]:
        assert len(temps) == 1 and temps[0].endswith(SUFFIXES[compress] + ".tmp"), temps
        original = left / temps[0][1:-len(SUFFIXES[compress] + ".tmp")]
        assert original.exists(), f"the original of {temps[0]} is gone"
    else:
        assert temps == []
    originals_there = [path.with_name(path.name[:-len(SUFFIXES[compress])]).exists() for path in compressed]
    if step in SETTLED_TOGETHER:
        # A pass renames several copies, then syncs the directory once and removes their originals.
        assert compressed, "nothing was compressed"
        assert originals_there[0] == STATE_AFTER[step][0] and all(originals_there[1:])
    else:
        assert len(compressed) == int(STATE_AFTER[step][2]), [path.name for path in compressed]
        assert originals_there == [STATE_AFTER[step][0]] * len(compressed)
    # A directory mid-compression counts each event once: the original is read, its copy not.
    result = fastevlog.count(str(left))
    assert result.total == EVENTS and result.damaged == []

    logs = tmp_path / "logs"
    shutil.copytree(left, logs)
    EventLogCounter(directory=logs).stop()  # no compress: only finish_compressions can clean up
    _check_left_clean(logs)


@pytest.mark.parametrize("compress", KINDS)
@pytest.mark.parametrize("step", _compression.STEPS)
def test_recover_command_cleans_up_after_a_kill(killed_directories, tmp_path, compress, step):
    """``fastevlog recover DIR`` after a SIGKILL at a step: no temporary, no original beside its copy,
    every event once."""
    by_command = tmp_path / "logs"
    shutil.copytree(killed_directories(compress, step), by_command)
    recovered = subprocess.run([sys.executable, "-m", "fastevlog", "recover", str(by_command)], cwd="/",
                               env=child_env(), capture_output=True, text=True, timeout=60)
    assert recovered.returncode == 0, recovered.stderr
    _check_left_clean(by_command)


def _log_until_closed(logger, files_closed, start=0):
    """Log events, a few at a time and flushed, until ``files_closed`` more files are closed; the next seq."""
    seq = start
    rotations = logger.metrics()["rotations"] + files_closed
    while logger.metrics()["rotations"] < rotations:
        for _ in range(20):
            logger.info("e", "m" * (seq % 97), seq=seq)
            seq += 1
        logger.flush()
    return seq


def _fill(disk: Path) -> Path:
    """Write a file until the disk refuses a byte more (ENOSPC)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        for block in (1 << 20, 4096, 1):
            while True:
                try:
                    os.write(fd, b"\0" * block)
                except OSError as error:
                    assert error.errno == errno.ENOSPC, error
                    break
    finally:
        os.close(fd)
    return filler


def test_full_disk_during_a_compression(tmp_path, monkeypatch, caplog):
    """No room for the temporary: the original kept, a failure counted and logged at ERROR, no temporary
    left; once space returns a later pass compresses it, and every event is there once."""
    caplog.set_level(logging.INFO, logger="fastevlog")
    claimed, filled = threading.Event(), threading.Event()

    def reached(step):
        if step == "claimed" and not filled.is_set():
            claimed.set()  # the disk is filled while the compression waits here
            filled.wait(30)

    monkeypatch.setattr(_compression, "_reached", reached)
    with mounted_tmpfs(tmp_path / "disk", "size=4m") as disk:
        with EventLogCounter(directory=disk, compress="gzip", max_file_size=50_000, buffer_bytes=64 * 1024,
                             flush_interval=0.01) as logger:
            seqs = _log_until_closed(logger, 1)
            assert claimed.wait(30), "the closed file was never claimed for compression"
            first = final_paths(disk)[0]
            size = first.stat().st_size
            filler = _fill(disk)
            filled.set()
            wait_until(lambda: logger.metrics()["compress_failures"] > 0, "the compression failed")
            assert first.exists() and first.stat().st_size == size, "the original was not kept whole"
            assert not first.with_name(first.name + ".gz").exists()
            wait_until(lambda: temporaries(disk) == [], "the temporary was removed")
            assert any(record.levelno == logging.ERROR for record in caplog.records)
            assert logger.metrics()["files_compressed"] == 0
            filler.unlink()
            wait_until(lambda: first.with_name(first.name + ".gz").exists() and not first.exists(),
                       "the file was compressed once space returned", timeout=40)
            assert logger.metrics()["files_compressed"] >= 1
        assert temporaries(disk) == []
        assert plain_beside_compressed(disk) == []
        left = sorted(event["seq"] for path in final_paths(disk) for event in events_in(path))
        assert left == list(range(seqs))


def _compressing(directory: Path, suffix: str):
    """The original whose temporary is in the directory now (the one being compressed)."""
    temps = temporaries(directory)
    assert len(temps) == 1, temps
    return directory / temps[0][1:-len(suffix + ".tmp")]


def test_file_removed_while_being_compressed(tmp_path, monkeypatch):
    """Removed by hand mid-way: nothing renamed to its final name, no temporary left, the logger goes on."""
    removed = {}

    def reached(step):
        if step == "temporary half written" and not removed:
            original = _compressing(tmp_path, ".gz")
            removed[original.name] = [event["seq"] for event in events_in(original)]
            original.unlink()

    monkeypatch.setattr(_compression, "CHUNK_BYTES", SMALL_CHUNK)
    monkeypatch.setattr(_compression, "_reached", reached)
    with EventLogCounter(directory=tmp_path, compress="gzip", max_file_size=60_000, buffer_bytes=256 * 1024,
                         flush_interval=0.01) as logger:
        seqs = _log_until_closed(logger, 1)
        wait_until(lambda: removed and temporaries(tmp_path) == [],
                   "the compression of the removed file ended")
        (name,) = removed
        assert not (tmp_path / (name + ".gz")).exists(), "the copy of a removed file was renamed in"
        # It goes on: the next closed file is compressed.
        seqs = _log_until_closed(logger, 1, seqs)
        wait_until(lambda: logger.metrics()["files_compressed"] >= 1, "the next file was compressed")
        logger.info("e", "after", seq=seqs)
        logger.flush()
        seqs += 1
    assert not (tmp_path / (name + ".gz")).exists() and not (tmp_path / name).exists()
    assert temporaries(tmp_path) == []
    left = sorted(event["seq"] for path in final_paths(tmp_path) for event in events_in(path))
    assert left == sorted(set(range(seqs)) - set(removed[name]))


def test_retention_meets_a_file_removed_by_hand(tmp_path, monkeypatch):
    """A file listed for deletion, then removed by hand before it is: retention goes on with the others."""
    names = [f"async_buffered_logs_20260101_00000{i}.log" for i in range(5)]
    for i, name in enumerate(names):
        (tmp_path / name).write_bytes(b'{"level":"INFO","event_id":"e","seq":%d}\n' % i)
    real_unlink = LogDirectory.unlink
    taken = []

    def unlink(self, name):
        if name == names[1] and not taken:
            taken.append(name)
            real_unlink(self, name)  # gone between the listing and our unlink
        real_unlink(self, name)

    monkeypatch.setattr(LogDirectory, "unlink", unlink)
    with EventLogCounter(directory=tmp_path, keep_files=1) as logger:
        wait_until(lambda: [path.name for path in final_paths(tmp_path)] == names[-1:],
                   "retention deleted the others")
        assert taken, "retention never came to the file removed by hand"
        assert logger.metrics()["files_deleted"] == 3  # the one removed by hand is not ours
        logger.info("e", "after")
        logger.flush()
        (own,) = [path for path in final_paths(tmp_path) if path.name not in names]
    assert [path.name for path in final_paths(tmp_path)][-1] == own.name


def test_a_cut_copy_beside_its_original_is_removed_not_the_original(tmp_path, caplog):
    """An original beside a copy that does not decompress to it whole (cut short, or of other bytes): the
    next logger removes the copy and keeps the original; beside a whole, equal copy, the original goes."""
    caplog.set_level(logging.INFO, logger="fastevlog")
    data = b"".join(b'{"level":"INFO","event_id":"e","seq":%d}\n' % seq for seq in range(3000))
    cut, other, whole = (f"async_buffered_logs_20260101_00000{i}.log" for i in range(3))
    for name in (cut, other, whole):
        (tmp_path / name).write_bytes(data)
    (tmp_path / (cut + ".gz")).write_bytes(gzip.compress(data)[:-200])
    (tmp_path / (other + ".gz")).write_bytes(gzip.compress(data[:-1] + b" "))
    (tmp_path / (whole + ".gz")).write_bytes(gzip.compress(data))
    EventLogCounter(directory=tmp_path).stop()
    assert [path.name for path in final_paths(tmp_path)] == [cut, other, whole + ".gz"]
    assert all(contents_of(path) == data for path in final_paths(tmp_path))
    assert sum(record.levelno == logging.ERROR for record in caplog.records) == 2


def test_a_file_a_dead_buffer_still_records_a_piece_for_is_not_compressed(tmp_path):
    """A dead process's buffer records a piece not yet written to X.log: X.log is not closed, so no pass
    compresses it (recovery would have to write into a file compressed away); after recovery it is."""
    data = lines(0, 300)
    name = f"{LOG_FILE}_{STAMP}.log"
    (tmp_path / name).write_bytes(data[:len(data) // 2])  # the dead writer got half of it out
    Ring([Segment(data, placements=[(STAMP, 0, 0, len(data))])]).plant(tmp_path)
    report = housekeep(str(tmp_path), LOG_FILE, compress="gzip")  # a pass, without recovery
    assert report.files_compressed == 0
    assert [path.name for path in final_paths(tmp_path)] == [name]
    with EventLogCounter(directory=tmp_path, compress="gzip") as logger:
        wait_until(lambda: logger.metrics()["files_compressed"] == 1, "compressed once recovered")
    assert [path.name for path in final_paths(tmp_path)] == [name + ".gz"]
    assert [event["seq"] for event in events_in(tmp_path / (name + ".gz"))] == list(range(300))
