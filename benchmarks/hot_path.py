"""The cost of one log() call as a ratio to the floor, the cost of any C call with its arguments.

Interleaved in one process: each round times every variant over N calls, the
median of the rounds is reported, divided by the median of the floor
(``fastevlog._core._noop`` with log()'s arguments), with the range of the
rounds' own ratios beside it.  Counting per level and per event id is on, as
always.  The buffer holds one variant's events and the writers are held back
while a variant is timed, then write its events to real files in a temporary
directory: a round times the calls, not this machine's page cache taking ~100 MB
of new file pages on the other core (benchmarks/writer.py and
simulate_vs_noop.py measure that side).  --concurrent-writers lets them run.

"log(), writers running" is the exception and the figure the README quotes
first: the same calls with the writers writing while they are timed, so every
sealed segment's trip to the files (the scheduler waking, a writer coming back
from its write, both needing the GIL the caller holds) is in it.  Its events
still fit in the buffer, which flush() drains between rounds, so it times the
handoffs, not a full ring waiting for the disk; and what a round wrote is
deleted after it, so no round pays for writing back an earlier one's.
The last two variants put the no-op and log() in the main job's own loop body,
where log() costs more than in a loop that does nothing else (most likely as the
interpreter's code and log()'s compete for the caches and branch predictors).

    python benchmarks/hot_path.py [--calls 1000000] [--rounds 5] [--concurrent-writers]
"""

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time

import fastevlog
from fastevlog import _core
from fastevlog.cli import _produce

ID, MESSAGE = "event_7", "Event event_7 occurred."
WRITERS_RUNNING = "log(), writers running"
BOUND = "bound log(), 2 fields"


def variants(logger, calls):
    log, noop = logger.log, _core._noop
    ids = [f"event_{i % 1000}" for i in range(calls)]
    messages = [f"Event {event_id} occurred." for event_id in ids]

    def floor():
        for _ in range(calls):
            noop("INFO", ID, MESSAGE)

    def hot():
        for _ in range(calls):
            log("INFO", ID, MESSAGE)

    def hot_writers_running():
        for _ in range(calls):
            log("INFO", ID, MESSAGE)

    def hot_clock_gettime():
        # The same call with timestamps read by clock_gettime: what reading the TSC saves.
        previous = _core._clock_source()
        _core._clock_source("clock_gettime")
        try:
            for _ in range(calls):
                log("INFO", ID, MESSAGE)
        finally:
            _core._clock_source(previous)

    def two_fields():
        for _ in range(calls):
            log("INFO", ID, MESSAGE, user_id=42, name="bob")

    bound_log = logger.bind(user_id=42, name="bob").log

    def bound_two_fields():
        # The same line as two_fields: the fields were encoded once, by bind().
        for _ in range(calls):
            bound_log("INFO", ID, MESSAGE)

    def filtered():
        for _ in range(calls):
            log("DEBUG", ID, MESSAGE)

    def loop_of_log():
        for event_id, message in zip(ids, messages):
            log("INFO", event_id, message)

    def log_many():
        logger.log_many("INFO", ids, messages)

    def log_many_of_ten():
        few_ids, few_messages = ids[:10], messages[:10]
        for _ in range(calls // 10):
            logger.log_many("INFO", few_ids, few_messages)

    # The same calls inside a busier loop body: the main job's own loop (fastevlog
    # simulate, one thread), with the no-op and with log().
    def job_noop():
        _produce(noop, 0, calls, 1)

    def job_log():
        _produce(log, 0, calls, 1)

    return {"floor": floor, "log()": hot, WRITERS_RUNNING: hot_writers_running,
            "log(), clock_gettime": hot_clock_gettime,
            "log() + 2 fields": two_fields, BOUND: bound_two_fields, "filtered by level": filtered,
            "loop of log(), 1000 ids": loop_of_log, "log_many(), 1000 ids": log_many,
            "log_many(), 10 a call": log_many_of_ten,
            "main job's loop, no-op": job_noop, "main job's loop, log()": job_log}


def remove_log_files(directory: str) -> None:
    """Delete what the last variant wrote (the file being written too, which lives on unnamed).

    Left there, the gigabytes a run writes would go to disk while later
    variants are timed, and the writers be throttled meanwhile, in whichever
    round that happens: with the writers running that alone made log() cost
    half as much again, as much as all that is measured.
    """
    for name in os.listdir(directory):
        if name.endswith(".log"):
            os.unlink(os.path.join(directory, name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrent-writers", action="store_true",
                        help="let the writers write while the calls are timed")
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="fastevlog-hot-")
    # Room for one variant's events (up to ~135 bytes each, with fields): the writers wait meanwhile.
    logger = fastevlog.EventLogCounter(directory=directory, level="INFO", flush_interval=3600,
                                       buffer_bytes=max(args.calls * 192, 64 * 1024 * 1024))
    writers_may_write = threading.Event()
    try:
        timed = variants(logger, args.calls)
        seconds = {name: [] for name in timed}
        pool = logger._scheduler.pool
        write = pool.pwritev

        def held_write(fd, views, offset):
            writers_may_write.wait()
            return write(fd, views, offset)

        for _ in range(args.rounds):
            for name, run in timed.items():
                running = args.concurrent_writers or name == WRITERS_RUNNING
                # The logger's own pwritev when running: a wrapper would add Python work to every write.
                pool.pwritev = write if running else held_write
                start = time.perf_counter()
                run()
                seconds[name].append(time.perf_counter() - start)
                writers_may_write.set()
                logger.flush()  # untimed: each variant starts with an empty buffer
                writers_may_write.clear()
                remove_log_files(directory)
    finally:
        # Stopped before its directory goes, also after an error (a failed write, say).
        writers_may_write.set()
        try:
            logger.stop()
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    # Each round's own ratio to its floor: their range is the noise of this run.
    ratios = {name: sorted(value / floor for value, floor in zip(values, seconds["floor"]))
              for name, values in seconds.items()}
    print(f"machine  {platform.machine()}, {platform.python_implementation()} {platform.python_version()}")
    print(f"calls    {args.calls:,} per variant, median of {args.rounds} interleaved rounds, writers "
          + ("running" if args.concurrent_writers else f"held while timed (but in '{WRITERS_RUNNING}')"))
    print(f"{'variant':<26}{'ns/call':>9}{'x floor':>9}  rounds' range")
    for name, value in median.items():
        print(f"{name:<26}{value / args.calls * 1e9:>9.1f}{value / median['floor']:>9.2f}"
              f"  {ratios[name][0]:.2f}-{ratios[name][-1]:.2f}")
    bound_ratios = sorted(b / u for b, u in zip(seconds[BOUND], seconds["log() + 2 fields"]))
    print(f"a bound logger's call costs {median[BOUND] / median['log() + 2 fields']:.2f}x the unbound call "
          f"with the same fields (rounds {bound_ratios[0]:.2f}-{bound_ratios[-1]:.2f})")
    print(f"log_many() is {median['loop of log(), 1000 ids'] / median['log_many(), 1000 ids']:.1f}x "
          "cheaper per event than the loop of log()")
    ns = {name: value / args.calls * 1e9 for name, value in median.items()}
    in_job = ns["main job's loop, log()"] - ns["main job's loop, no-op"]
    print(f"log() costs {ns['log()'] - ns['floor']:.1f} ns more than the no-op in its own loop, "
          f"{in_job:.1f} ns more in the main job's loop")


if __name__ == "__main__":
    main()
