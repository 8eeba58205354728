"""Where a producer's time goes per sealed segment while the writers run, for several ring set-ups.

One producer (this thread) calls log() in a tight loop with the writers
running, as hot_path.py's "log(), writers running" does: each round's events fit
in the buffer, flush() drains it between rounds, and what a round wrote is
deleted after it.  Each set-up is a logger of its own in this process, started
with fastevlog._logger's _SEGMENT_TARGET (the segment size) and _WAKE_BYTES (the
full segments' bytes that wake the scheduler, see seals_per_wake) monkeypatched.
Every round times the floor (the no-op call), then each set-up, then the same
calls with the writers held (their events written after the timing), so all of
them compare side by side on this noisy machine.

Per sealed segment, median of the rounds, against the held run of the same round:

- extra us: the producer's wall time above the held run's;
- cpu us / off-cpu us: that extra split into the producer's own CPU time and
  the time it did not run (stepping aside, waiting for the GIL, preempted);
- sleeps / preempted: its voluntary and involuntary context switches;
- wakes / writes: the scheduler's wake-ups and the writers' pwritev calls;
- sched us / writer us: the CPU time of those threads (on two cores they
  overlap the producer, except while they hold the GIL).

With --main-job N it runs the main job instead (`fastevlog simulate`, N events from 20
threads, each set-up in a process of its own), side by side with the same loop calling the
no-op, and prints each set-up's wall time as a ratio to the no-op's, with the producer
threads' CPU and the rest (writers, scheduler).

    python benchmarks/handoff.py [--calls 300000] [--rounds 20] [--setups 1:1,1:2,1:4,1:8,4:4,8:8]
    python benchmarks/handoff.py --main-job 10000000 --rounds 5 --setups 1:1,1:8
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import fastevlog
from fastevlog import _core, _logger

ID, MESSAGE = "event_7", "Event event_7 occurred."
MIB = 1024 * 1024


def context_switches(native_id: int):
    """(voluntary, involuntary) context switches of a thread of this process so far."""
    counts = {}
    with open(f"/proc/self/task/{native_id}/status") as status:
        for line in status:
            if "ctxt_switches" in line:
                name, value = line.split(":")
                counts[name.strip()] = int(value)
    return counts["voluntary_ctxt_switches"], counts["nonvoluntary_ctxt_switches"]


def cpu_seconds(thread: threading.Thread) -> float:
    assert thread.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def remove_log_files(directory: str) -> None:
    """Delete what a round wrote: gigabytes of dirty pages left behind would be written back to disk
    while later rounds run (and the writers throttled meanwhile), in whichever round that happens."""
    for name in os.listdir(directory):
        if name.endswith(".log"):
            os.unlink(os.path.join(directory, name))


class Setup:
    """A logger with its own segment size and wake-up size, and what its rounds measured."""

    def __init__(self, name: str, segment_bytes: int, wake_bytes: int, buffer_bytes: int,
                 held: bool = False) -> None:
        self.name = name
        self.directory = tempfile.mkdtemp(prefix="fastevlog-handoff-")
        defaults = _logger._SEGMENT_TARGET, _logger._WAKE_BYTES
        _logger._SEGMENT_TARGET, _logger._WAKE_BYTES = segment_bytes, wake_bytes
        try:
            self.logger = fastevlog.EventLogCounter(directory=self.directory, level="INFO",
                                                    flush_interval=3600, buffer_bytes=buffer_bytes)
        finally:
            _logger._SEGMENT_TARGET, _logger._WAKE_BYTES = defaults
        scheduler = self.logger._scheduler
        self.threads = {"scheduler": [scheduler._thread], "writers": scheduler.pool._threads}
        # Counted around the calls themselves: one more Python call per wake-up and per write.
        self.counts = {"wakes": 0, "writes": 0}
        dispatch, write = scheduler._dispatch, scheduler.pool.pwritev
        self.may_write = threading.Event()
        if not held:
            self.may_write.set()

        def counted_dispatch():
            self.counts["wakes"] += 1
            dispatch()

        def counted_write(fd, views, offset):
            self.may_write.wait()
            self.counts["writes"] += 1
            return write(fd, views, offset)

        scheduler._dispatch = counted_dispatch
        scheduler.pool.pwritev = counted_write
        self.held = held
        self.rows: list = []

    def run(self, calls: int) -> None:
        log, metrics, me = self.logger.log, self.logger.metrics, threading.get_native_id()
        segments, switches = metrics()["flushes"], context_switches(me)
        counts = dict(self.counts)
        cpu = {kind: sum(map(cpu_seconds, threads)) for kind, threads in self.threads.items()}
        start_cpu, start = time.thread_time(), time.perf_counter()
        for _ in range(calls):
            log("INFO", ID, MESSAGE)
        wall, producer_cpu = time.perf_counter() - start, time.thread_time() - start_cpu
        after = context_switches(me)
        row = {"wall": wall, "cpu": producer_cpu, "off_cpu": wall - producer_cpu,
               "sleeps": after[0] - switches[0], "preempted": after[1] - switches[1]}
        row.update({kind: self.counts[kind] - counts[kind] for kind in counts})
        for kind, threads in self.threads.items():
            row[kind] = sum(map(cpu_seconds, threads)) - cpu[kind]
        self.may_write.set()
        self.logger.flush()
        if self.held:
            self.may_write.clear()
        remove_log_files(self.directory)
        row["segments"] = metrics()["flushes"] - segments  # the flush's own partial one included
        self.rows.append(row)

    def close(self) -> None:
        self.may_write.set()
        try:
            self.logger.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def floor(calls: int) -> float:
    noop = _core._noop
    start = time.perf_counter()
    for _ in range(calls):
        noop("INFO", ID, MESSAGE)
    return time.perf_counter() - start


def report(setups, held, floors, calls: int) -> None:
    print(f"{'set-up (MiB)':<18}{'x floor':>8}{'range':>12}{'segs':>6}{'extra us':>9}{'cpu us':>7}"
          f"{'off-cpu us':>11}{'sleeps':>7}{'preempt':>8}{'wakes':>6}{'writes':>7}{'sched us':>9}"
          f"{'writer us':>10}")
    for setup in setups + [held]:
        ratios = sorted(row["wall"] / f for row, f in zip(setup.rows, floors))

        def per_segment(key, scale=1.0, rows=setup.rows):
            return statistics.median(row[key] / row["segments"] for row in rows) * scale

        def above_held(key, rows=setup.rows):
            return statistics.median((row[key] - base[key]) / row["segments"]
                                     for row, base in zip(rows, held.rows)) * 1e6

        print(f"{setup.name:<18}{statistics.median(ratios):>8.2f}{ratios[0]:>6.2f}-{ratios[-1]:<5.2f}"
              f"{statistics.median(row['segments'] for row in setup.rows):>6.0f}"
              f"{above_held('wall'):>9.0f}{above_held('cpu'):>7.0f}{above_held('off_cpu'):>11.0f}"
              f"{per_segment('sleeps'):>7.2f}{per_segment('preempted'):>8.2f}{per_segment('wakes'):>6.2f}"
              f"{per_segment('writes'):>7.2f}{per_segment('scheduler', 1e6):>9.0f}"
              f"{per_segment('writers', 1e6):>10.0f}")


# `fastevlog simulate` in a child whose _SEGMENT_TARGET and _WAKE_BYTES are the set-up's (none: the no-op).
SIMULATE = """
import sys
import fastevlog._logger as logger
from fastevlog.cli import main
segment, wake = sys.argv.pop(1), sys.argv.pop(1)
if segment != "noop":
    logger._SEGMENT_TARGET, logger._WAKE_BYTES = int(segment), int(wake)
sys.exit(main())
"""


def main_job(events: int, segment: str, wake: str):
    """(wall s, producer threads' CPU s, the rest's CPU s) of one `fastevlog simulate` run."""
    directory = tempfile.mkdtemp(prefix="fastevlog-handoff-")
    try:
        output = subprocess.run(
            [sys.executable, "-c", SIMULATE, segment, wake, "simulate", "--events", str(events), "--threads",
             "20", "--dir", directory, "--no-progress"] + (["--noop"] if segment == "noop" else []),
            capture_output=True, text=True, check=True).stdout
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    wall = float(re.search(r"^wall time\s+([\d.]+) s", output, re.M).group(1))
    cpu = re.search(r"producer threads ([\d.]+) s, the rest \S+ [^)]*\) ([\d.]+) s", output)
    return wall, float(cpu.group(1)) if cpu else 0.0, float(cpu.group(2)) if cpu else 0.0


def compare_main_jobs(events: int, rounds: int, pairs) -> None:
    runs = {"no-op": []}
    runs.update({f"{segment:g}, wake {wake:g}": [] for segment, wake in pairs})
    for _ in range(rounds):
        runs["no-op"].append(main_job(events, "noop", "noop"))
        for segment, wake in pairs:
            runs[f"{segment:g}, wake {wake:g}"].append(main_job(events, str(int(segment * MIB)),
                                                                str(int(wake * MIB))))
    print(f"main job {events:,} events, 20 threads, median of {rounds} rounds (the range of the rounds' own "
          "ratios beside it)")
    print(f"{'set-up (MiB)':<18}{'wall s':>8}{'x no-op':>9}{'range':>12}{'producers s':>13}{'rest s':>8}")
    for name, values in runs.items():
        ratios = sorted(wall / noop[0] for (wall, *_), noop in zip(values, runs["no-op"]))
        print(f"{name:<18}{statistics.median(v[0] for v in values):>8.2f}{statistics.median(ratios):>9.2f}"
              f"{ratios[0]:>6.2f}-{ratios[-1]:<5.2f}{statistics.median(v[1] for v in values):>13.2f}"
              f"{statistics.median(v[2] for v in values):>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--setups", default="1:1,1:2,1:4,1:8,4:4,8:8",
                        help="SEGMENT:WAKE pairs in MiB, comma-separated: the segment size, and the bytes of "
                             "full segments that wake the scheduler")
    parser.add_argument("--main-job", type=int, metavar="EVENTS",
                        help="run the main job (fastevlog simulate) with each set-up instead")
    args = parser.parse_args()
    buffer_bytes = max(args.calls * 192, 64 * MIB)
    pairs = [[float(x) for x in pair.split(":")] for pair in args.setups.split(",")]
    if args.main_job:
        compare_main_jobs(args.main_job, args.rounds, pairs)
        return
    setups = [Setup(f"{segment:g}, wake {wake:g}", int(segment * MIB), int(wake * MIB), buffer_bytes)
              for segment, wake in pairs]
    held = Setup("held", _logger._SEGMENT_TARGET, _logger._WAKE_BYTES, buffer_bytes, held=True)
    floors = []
    load = os.getloadavg()[0]
    try:
        for _ in range(args.rounds):
            floors.append(floor(args.calls))
            for setup in setups + [held]:
                setup.run(args.calls)
    finally:
        for setup in setups + [held]:
            setup.close()
    print(f"calls    {args.calls:,} per round, median of {args.rounds} rounds (the range of the rounds' own "
          f"ratios beside it); floor {statistics.median(floors) / args.calls * 1e9:.1f} ns/call")
    print(f"load     {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end "
          f"(1-minute load average, {os.cpu_count()} cores)")
    print("per sealed segment:")
    report(setups, held, floors, args.calls)


if __name__ == "__main__":
    main()
