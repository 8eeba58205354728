"""Compression and retention with several processes on one directory, and retention's choices in one.

Only closed files are touched: never one another live process still writes (it would lose or tear
its events), never one a writer holds locked; what goes is the oldest first.
"""

from __future__ import annotations

import collections
import fcntl
import importlib.util
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import child_env, events_in, final_paths, plain_beside_compressed, temporaries, wait_until

import fastevlog
from fastevlog import EventLogCounter

LOG_FILE = "shared"
COMPRESS = "zstd" if importlib.util.find_spec("zstandard") is not None else "gzip"  # zstd is a test extra

# A producer: waits for the others, logs (pid, n) in small files, pausing after every 10 events so that
# the processes overlap and each one's housekeeper meets the others' live files, and for ``hold`` seconds
# after event ``hold_at`` (its file live, written, recorded in no buffer: only its lock keeps it);
# prints the names of the files it created and its counters.
PRODUCER = """
import json, os, sys, time
import fastevlog
from fastevlog._rotation import LogFiles
directory, options, producer, ready, go = sys.argv[1:6]
options, (events, pause, hold_at, hold) = json.loads(options), json.loads(producer)
created = []
real_open_new = LogFiles._open_new

def recording_open_new(self):
    file = real_open_new(self)
    created.append(os.path.basename(file.path))
    return file

LogFiles._open_new = recording_open_new
logger = fastevlog.EventLogCounter(directory=directory, log_file="shared", max_file_size=3000,
                                   buffer_bytes=64 * 1024, flush_interval=0.005, **options)
open(ready, "w").close()
deadline = time.monotonic() + 60
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.001)
for n in range(events):
    logger.info("e", pid=os.getpid(), n=n)
    if n % 10 == 9:
        time.sleep(pause)
    if n == hold_at:
        logger.flush()
        time.sleep(hold)
logger.stop()
metrics = logger.metrics()
print(json.dumps({"pid": os.getpid(), "created": created,
                  "metrics": {key: metrics[key] for key in ("files_compressed", "files_deleted")}}))
"""


def _run_producers(directory: Path, options: dict, producers):
    """Run producers, (events, pause, hold_at, hold) each, together on directory; their reports
    (pid, created, metrics)."""
    go = directory.parent / "go"
    children = [subprocess.Popen([sys.executable, "-c", PRODUCER, str(directory), json.dumps(options),
                                  json.dumps(producer), str(directory.parent / f"ready{k}"), str(go)],
                                 cwd="/", env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
                for k, producer in enumerate(producers)]
    try:
        for k, child in enumerate(children):
            ready = directory.parent / f"ready{k}"
            wait_until(lambda ready=ready, child=child: ready.exists() or child.poll() is not None,
                       f"producer {k} started", timeout=60)
    finally:
        go.touch()
        results = [child.communicate(timeout=120) for child in children]
    reports = []
    for child, (out, err) in zip(children, results):
        assert child.returncode == 0, err
        reports.append(json.loads(out))
    return reports


def test_four_processes_compressing_lose_and_tear_nothing(tmp_path):
    """4 processes log and compress together: every event of each once, every line whole, none lost
    (a file compressed while its process still wrote it would lose what came after)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    # Three close files (and so run passes) all along; one holds its file live, half written, meanwhile.
    producers = [(800, 0.005, -1, 0), (800, 0.005, -1, 0), (800, 0.005, -1, 0), (100, 0.001, 20, 0.6)]
    reports = _run_producers(logs, {"compress": COMPRESS}, producers)
    assert sum(report["metrics"]["files_compressed"] for report in reports) > 0
    assert temporaries(logs) == []
    assert plain_beside_compressed(logs, LOG_FILE) == []
    seen = collections.Counter()
    for path in final_paths(logs, LOG_FILE):
        lines = events_in(path)  # a compressed file decompresses whole; lines whole, valid JSON
        assert len({event["pid"] for event in lines}) == 1, f"{path.name} holds lines of two processes"
        seen.update((event["pid"], event["n"]) for event in lines)
    logged = {report["pid"]: producer[0] for report, producer in zip(reports, producers)}
    assert sorted(seen) == sorted((pid, n) for pid, events in logged.items() for n in range(events)), \
        "an event was lost"
    assert set(seen.values()) == {1}, "an event is there twice"
    counted = fastevlog.count(str(logs), by="field:pid")
    assert counted.groups == {(pid,): events for pid, events in logged.items()} and counted.damaged == []


def test_keep_files_across_processes_keeps_the_newest(tmp_path):
    """keep_files=K shared by 4 processes: their housekeepers delete each other's closed files, never one
    in use; after the next logger's pass, the K newest of all files are left, each whole."""
    logs = tmp_path / "logs"
    logs.mkdir()
    keep, events = 5, 1000
    reports = _run_producers(logs, {"keep_files": keep}, [(events, 0.002, -1, 0)] * 4)
    created = sorted(name for report in reports for name in report["created"])
    assert len(created) > 4 * keep
    # The producers' housekeepers deleted (while the others wrote, and at their stops).
    deleted_by_producers = sum(report["metrics"]["files_deleted"] for report in reports)
    assert deleted_by_producers > 0
    with EventLogCounter(directory=logs, log_file=LOG_FILE, keep_files=keep) as logger:
        wait_until(lambda: len(final_paths(logs, LOG_FILE)) <= keep, "the start's pass kept keep_files")
        deleted_at_the_end = logger.metrics()["files_deleted"]
    left = final_paths(logs, LOG_FILE)
    assert [path.name for path in left] == created[-keep:], "not the newest files were kept"
    # Each file went once, by one process.
    assert deleted_by_producers + deleted_at_the_end == len(created) - keep
    # What is left of each process is the tail of what it logged: nothing deleted from the middle.
    by_pid = collections.defaultdict(list)
    for path in left:
        for event in events_in(path):
            by_pid[event["pid"]].append(event["n"])
    for ns in by_pid.values():
        assert ns == list(range(ns[0], events)), "a process lost events from a file it still wrote"


# -- retention's choices, in one process with an injected clock ----------------------------------------

NOW = 1_780_000_000.0  # 2026-05-28, the injected clock: the logger's own file is named after it
DAY = 86400
PLANTED = [f"async_buffered_logs_20260101_00000{i}.log" for i in range(6)]
SIZES = [1000, 2000, 3000, 4000, 5000, 6000]
# Ages in days by mtime: PLANTED[2] has an old name but was written lately (keep_days goes by mtime).
AGES = [5, 4, 0.3, 2, 0.5, 0.2]


def _plant(directory: Path) -> None:
    for name, size, age in zip(PLANTED, SIZES, AGES):
        head, tail = b'{"level":"INFO","event_id":"e","pad":"', b'"}\n'
        (directory / name).write_bytes(head + b"x" * (size - len(head) - len(tail)) + tail)
        os.utime(directory / name, (NOW - age * DAY, NOW - age * DAY))


@pytest.mark.parametrize("limits, deleted", [
    ({"keep_files": 2}, [1, 2, 3]),
    ({"keep_bytes": 11_500}, [1, 2, 3]),
    ({"keep_days": 1}, [1, 3]),
    ({"keep_files": 4, "keep_days": 1}, [1, 3]),
    ({"keep_files": 1, "keep_bytes": 20_000}, [1, 2, 3, 4]),
], ids=["files", "bytes", "days", "files_and_days", "files_and_bytes"])
def test_retention_deletes_the_oldest_closed_files(tmp_path, caplog, limits, deleted):
    """The oldest closed files go first, as the limits say; a file in use (locked by a writer), however
    old, stays; files_deleted and bytes_deleted are what vanished."""
    caplog.set_level(logging.INFO, logger="fastevlog")
    _plant(tmp_path)
    # PLANTED[0], the oldest, is being written by another process: its shared lock says so.
    in_use = os.open(tmp_path / PLANTED[0], os.O_RDONLY)
    fcntl.flock(in_use, fcntl.LOCK_SH)
    try:
        gone = [PLANTED[i] for i in deleted]
        with EventLogCounter(directory=tmp_path, clock=lambda: NOW, **limits) as logger:
            logger.info("e", "mine")
            logger.flush()  # its own file, the newest: in use while it writes it
            wait_until(lambda: logger.metrics()["files_deleted"] >= len(gone), "retention ran")
            names = [path.name for path in final_paths(tmp_path)]
            metrics = logger.metrics()
        assert names[:-1] == [name for name in PLANTED if name not in gone], names  # + the logger's own
        # stop() closes the logger's file, which retention then counts as the newest closed file: what
        # else goes is the oldest of the rest; the file in use stays.
        after = [path.name for path in final_paths(tmp_path)]
        assert after[0] == PLANTED[0] and after[1:] == names[len(names) - len(after) + 1:], (names, after)
    finally:
        os.close(in_use)
    assert metrics["files_deleted"] == len(gone)
    assert metrics["bytes_deleted"] == sum(SIZES[i] for i in deleted)
    in_order = [record.getMessage().split()[1] for record in caplog.records
                if record.getMessage().startswith("deleted ")]
    assert in_order[:len(gone)] == [str(tmp_path / name) for name in gone], "not deleted oldest first"


def test_a_new_file_never_takes_the_name_of_a_compressed_one(tmp_path):
    """A logger started in the same second as an earlier one (another process, or a restart) whose files
    were compressed: its new file gets a name of its own, not X.log beside the earlier X.log.gz, which
    readers would skip and the next start would find differing from X.log (and remove)."""
    with EventLogCounter(directory=tmp_path, compress="gzip", max_file_size=2000, flush_interval=0.01,
                         clock=lambda: NOW) as first:
        seq = 0
        while first.metrics()["rotations"] < 2:
            for _ in range(10):
                first.info("e", "first", seq=seq)
                seq += 1
            first.flush()
        wait_until(lambda: first.metrics()["files_compressed"] >= 2, "the first files were compressed")
    with EventLogCounter(directory=tmp_path, clock=lambda: NOW) as second:
        second.info("e", "second", seq=seq)
    assert plain_beside_compressed(tmp_path) == []
    EventLogCounter(directory=tmp_path).stop()  # finish_compressions must find nothing to undo
    assert sorted(event["seq"] for path in final_paths(tmp_path) for event in events_in(path)) == \
        list(range(seq + 1))
    assert fastevlog.count(str(tmp_path)).total == seq + 1
