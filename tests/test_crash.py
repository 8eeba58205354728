"""SIGKILL at random moments: every acknowledged event is in the files exactly once, no line torn."""

import json
import os
import random
import struct
import subprocess
import sys

import pytest
from support import child_env, kill_while_logging, log_paths

from fastevlog import EventLogCounter

ROUNDS = int(os.environ.get("FASTEVLOG_CRASH_ROUNDS", "20"))

# The child logs seq 0, 1, 2, ... and stores the last seq whose log() returned in
# an 8-byte shared file, so the parent knows what was acknowledged at the kill.
CHILD = """
import mmap, os, struct, sys
import fastevlog
directory, ack_path = sys.argv[1], sys.argv[2]
ack_fd = os.open(ack_path, os.O_RDWR)
ack = mmap.mmap(ack_fd, 8)
logger = fastevlog.EventLogCounter(directory=directory, buffer_bytes=64 * 1024, max_file_size=20_000,
                                   flush_interval=0.005, num_workers=3)
seq = 0
print("ready", flush=True)
while True:
    logger.info(f"event_{seq % 7}", "m" * (seq % 300), seq=seq, pad="x" * (seq % 50))
    ack[0:8] = struct.pack("q", seq)  # whole: pack_into zero-fills first, and a kill between read 0
    seq += 1
"""


def _run_and_kill(directory, ack_path, rng):
    """The child killed at a random moment; the last seq it acknowledged."""
    return kill_while_logging(CHILD, [str(directory), str(ack_path)], directory, ack_path, -1,
                              rng.uniform(0.01, 0.3))


def _seqs(directory):
    seqs = []
    for path in log_paths(directory):
        data = path.read_bytes()
        assert b"\0" not in data, f"{path.name} holds NUL bytes"
        assert data == b"" or data.endswith(b"\n"), f"{path.name} ends in a torn line"
        for line in data.splitlines():
            seqs.append(json.loads(line)["seq"])
    return seqs


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_sigkill_loses_and_repeats_nothing(tmp_path, round_):
    """Killed mid-run, then recovered by the next logger: acknowledged events once each, in order."""
    rng = random.Random(round_)
    ack_path = tmp_path / "ack"
    ack_path.write_bytes(struct.pack("q", -1))
    logs = tmp_path / "logs"
    logs.mkdir()
    acknowledged = _run_and_kill(logs, ack_path, rng)
    assert acknowledged > 0

    with EventLogCounter(directory=logs, max_file_size=20_000) as logger:
        pass
    seqs = _seqs(logs)
    assert len(seqs) == len(set(seqs)), "an event was written twice"
    assert seqs[:acknowledged + 1] == list(range(acknowledged + 1)), "an acknowledged event is missing"
    # At most the one event whose log() was running at the kill comes after.
    assert seqs[acknowledged + 1:] in ([], [acknowledged + 1])
    assert not list(logs.glob("*.buffer"))
    assert logger.recovered_events >= 0


def test_recover_command(tmp_path):
    """`fastevlog recover DIR` does what the next logger would have done."""
    ack_path = tmp_path / "ack"
    ack_path.write_bytes(struct.pack("q", -1))
    logs = tmp_path / "logs"
    logs.mkdir()
    acknowledged = _run_and_kill(logs, ack_path, random.Random(7))
    result = subprocess.run([sys.executable, "-m", "fastevlog", "recover", str(logs)], cwd=tmp_path,
                            env=child_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "recovered" in result.stdout
    seqs = _seqs(logs)
    assert seqs[:acknowledged + 1] == list(range(acknowledged + 1))
    assert len(seqs) == len(set(seqs))
    assert not list(logs.glob("*.buffer"))

