"""A max_file_size smaller than a segment, and lines longer than one: crash safety and memory stay."""

import json
import os
import random
import struct
import textwrap
import threading

import support

from fastevlog import EventLogCounter

# Logs seq base, base + 1, ... and stores the last seq whose log() returned in an
# 8-byte shared file, so the parent knows what was acknowledged at the kill.
# Every line is longer than max_file_size: each gets a file of its own.
KILLED_CHILD = textwrap.dedent("""
    import mmap, os, struct, sys
    import fastevlog
    directory, ack_path, seq = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ack = mmap.mmap(os.open(ack_path, os.O_RDWR), 8)
    logger = fastevlog.EventLogCounter(directory=directory, buffer_bytes=64 * 1024, max_file_size=100,
                                       flush_interval=0.005, num_workers=3)
    print("ready", flush=True)
    while True:
        logger.info(f"event_{seq % 7}", "m" * (seq % 300), seq=seq)
        ack[0:8] = struct.pack("q", seq)  # whole: pack_into zero-fills first, and a kill between read 0
        seq += 1
""")


def test_sigkill_with_tiny_files_loses_and_repeats_nothing(tmp_path):
    """max_file_size=100, killed three times (each start recovers the last): acknowledged events once each.

    Lines longer than max_file_size used to travel outside the buffer file
    (segments were capped at max_file_size), and a kill lost them.
    """
    rng = random.Random(11)
    logs = tmp_path / "logs"
    logs.mkdir()
    ack_path = tmp_path / "ack"
    acknowledged = []  # (first seq, last acknowledged seq) per child
    for kill in range(3):
        base = kill * 1_000_000
        ack_path.write_bytes(struct.pack("q", base - 1))
        last = support.kill_while_logging(KILLED_CHILD, [str(logs), str(ack_path), str(base)], tmp_path,
                                          ack_path, base - 1, rng.uniform(0.1, 0.3))
        assert last > base, "the child acknowledged nothing"
        acknowledged.append((base, last))

    with EventLogCounter(directory=logs, max_file_size=100) as logger:
        pass
    assert logger.recovered_events > 0
    seqs = [event["seq"] for event in support.read_events(logs)]
    assert len(seqs) == len(set(seqs)), "an event was written twice"
    for base, last in acknowledged:
        mine = [seq for seq in seqs if base <= seq < base + 1_000_000]
        # At most the one event whose log() was running at the kill comes after.
        assert mine[:last - base + 1] == list(range(base, last + 1)), "an acknowledged event is missing"
        assert mine[last - base + 1:] in ([], [last + 1])
    assert not list(logs.glob("*.buffer"))


# Eight threads log 200 KB lines (a segment is 16 KiB) while each write takes 2 ms.
BIG_LINES_CHILD = textwrap.dedent("""
    import json, os, resource, sys, threading, time
    import fastevlog

    logger = fastevlog.EventLogCounter(directory=sys.argv[1], buffer_bytes=64 * 1024, on_full="block")
    write = logger._scheduler.pool.pwritev

    def slow_disk(fd, buffers, offset):
        time.sleep(0.002)
        return write(fd, buffers, offset)

    logger._scheduler.pool.pwritev = slow_disk
    line = "x" * 200_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = [0]

    def produce(t):
        for i in range(40):
            logger.info("big", line, thread=t, seq=i)
            peak[0] = max(peak[0], logger.metrics().get("oversized_bytes_pending", 0))

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    logger.stop()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rss_growth_kib": after - before, "peak_pending": peak[0], **logger.metrics()}))
""")


def test_lines_longer_than_a_segment_keep_memory_bounded(tmp_path):
    """64 KiB buffer, 64 MB of 200 KB lines from 8 threads to a slow disk: producers wait, memory stays small.

    Such lines travel outside the ring; their unwritten bytes are admitted
    only up to about the buffer's size (one at least), like a full ring.
    """
    child = support.run_python(BIG_LINES_CHILD.replace("sys.argv[1]", repr(str(tmp_path))), tmp_path,
                               capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert result["events_written"] == result["events_logged"] == 320
    assert result["dropped"] == 0
    assert result["buffer_full_waits"] > 0, "no producer ever waited"
    ring = 64 * 1024
    assert result["peak_pending"] <= ring + 200_100, result["peak_pending"]
    # Unbounded, 64 MB would pile up in memory; 8 waiting producers hold a few lines each.
    assert result["rss_growth_kib"] < 24 * 1024, result
    events = support.read_events(tmp_path)
    for t in range(8):
        assert [e["seq"] for e in events if e["thread"] == t] == list(range(40))


def test_big_lines_dropped_when_on_full_is_drop(tmp_path):
    """on_full="drop": a line longer than a segment that would exceed the bound is dropped and counted."""
    with EventLogCounter(directory=tmp_path, buffer_bytes=64 * 1024, on_full="drop",
                         flush_interval=60) as logger:
        write = logger._scheduler.pool.pwritev
        gate = threading.Event()

        def held_disk(fd, buffers, offset):
            gate.wait()
            return write(fd, buffers, offset)

        logger._scheduler.pool.pwritev = held_disk
        line = "y" * 50_000
        for i in range(10):
            logger.info("big", line, seq=i)
        dropped = logger.metrics()["dropped"]
        gate.set()
    metrics = logger.metrics()
    written = [e["seq"] for e in support.read_events(tmp_path)]
    assert dropped > 0
    assert metrics["dropped"] == dropped == 10 - len(written)
    assert written == sorted(written) and len(written) >= 1
    assert metrics["oversized_bytes_pending"] == 0
    assert os.listdir(tmp_path)
