"""stdlib logging through fastevlog.Handler, side by side with its floor and its stdlib peer.

T threads call ``logging.getLogger("bench.app").info("request handled", extra={...})``,
N calls in all, through three setups of that logger, interleaved round by round in one
process:

- ``NullHandler``: only a ``logging.NullHandler`` attached: what stdlib logging itself
  costs (the record's creation), the floor every handler adds to;
- ``fastevlog.Handler``: the records written by an EventLogCounter, its writers running;
- ``QueueHandler``: ``QueueHandler`` -> ``QueueListener`` -> ``RotatingFileHandler`` with
  python-json-logger's ``JsonFormatter``, the stdlib's non-blocking JSON peer (as in compare.py).

Each time runs from before the threads start to every line on disk (``flush()``, the
listener's ``stop()``); the calls alone are timed too.  Every line is counted afterwards.
The median of the rounds is reported, and ratios to the NullHandler and to fastevlog.Handler.

    python benchmarks/handler.py [--calls 200000] [--threads 20] [--rounds 5]
"""

from __future__ import annotations

import argparse
import glob
import logging
import logging.handlers
import os
import platform
import queue
import shutil
import statistics
import tempfile
import threading
import time

import fastevlog

LOGGER = "bench.app"
ROTATE_BYTES = 10 * 1024 * 1024


def call_loop(logger: logging.Logger, first: int, calls: int, step: int) -> None:
    info = logger.info
    for i in range(first, calls, step):
        info("request handled", extra={"user_id": i, "path": "/api/items"})


class NullSetup:
    name = "NullHandler"

    def start(self, logger, directory):
        logger.addHandler(logging.NullHandler())

    def finish(self, logger):
        pass

    def lines(self, directory):
        return None


class FastevlogSetup:
    name = "fastevlog.Handler"

    def start(self, logger, directory):
        self.events = fastevlog.EventLogCounter(directory=directory)
        logger.addHandler(fastevlog.Handler(self.events))

    def finish(self, logger):
        self.events.flush()

    def stop(self):
        self.events.stop()

    def lines(self, directory):
        return count_lines(os.path.join(directory, "*.log"))


class QueueSetup:
    name = "QueueHandler"

    def start(self, logger, directory):
        try:
            from pythonjsonlogger.json import JsonFormatter
        except ImportError:  # python-json-logger < 3
            from pythonjsonlogger.jsonlogger import JsonFormatter
        records: queue.Queue = queue.Queue(-1)
        self.file_handler = logging.handlers.RotatingFileHandler(
            os.path.join(directory, "stdlib.log"), maxBytes=ROTATE_BYTES, backupCount=10_000,
            encoding="utf-8")
        self.file_handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        self.listener = logging.handlers.QueueListener(records, self.file_handler)
        self.listener.start()
        logger.addHandler(logging.handlers.QueueHandler(records))

    def finish(self, logger):
        self.listener.stop()  # returns once the queue is drained into the files

    def stop(self):
        self.file_handler.close()

    def lines(self, directory):
        return count_lines(os.path.join(directory, "stdlib.log*"))


def count_lines(pattern: str) -> int:
    total = 0
    for path in glob.glob(pattern):
        with open(path, "rb") as file:
            total += sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))
    return total


def time_one(setup, calls: int, threads: int, directory: str):
    """(seconds for the calls, seconds until every line is on disk) for one setup."""
    logger = logging.getLogger(LOGGER)
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.INFO)
    setup.start(logger, directory)
    workers = [threading.Thread(target=call_loop, args=(logger, t, calls, threads)) for t in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    called = time.perf_counter()
    setup.finish(logger)
    on_disk = time.perf_counter()
    logger.handlers.clear()
    if hasattr(setup, "stop"):
        setup.stop()
    lines = setup.lines(directory)
    if lines is not None and lines != calls:
        raise SystemExit(f"{setup.name}: {lines:_} lines on disk, expected {calls:_}")
    return called - started, on_disk - started


def run(calls: int, threads: int, rounds: int, setups=None):
    """{setup name: ([calls seconds], [to-disk seconds])} over interleaved rounds."""
    setups = setups or [NullSetup(), FastevlogSetup(), QueueSetup()]
    times = {setup.name: ([], []) for setup in setups}
    root = tempfile.mkdtemp(prefix="fastevlog-handler-")
    try:
        for round_ in range(rounds):
            for setup in setups:
                directory = os.path.join(root, f"{round_}-{setup.name}")
                os.mkdir(directory)
                called, on_disk = time_one(setup, calls, threads, directory)
                times[setup.name][0].append(called)
                times[setup.name][1].append(on_disk)
                shutil.rmtree(directory)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return times


def report(times, calls: int, threads: int, rounds: int) -> str:
    medians = {name: (statistics.median(c), statistics.median(d)) for name, (c, d) in times.items()}
    floor = medians["NullHandler"][1]
    ours = medians["fastevlog.Handler"][1]
    rows = [f"machine  {platform.machine()}, CPython {platform.python_version()}, {os.cpu_count()} cores",
            f"calls    {calls:_} from {threads} threads, median of {rounds} interleaved rounds; "
            "'to disk' runs until every line is in its file",
            f"{'setup':<20}{'calls µs':>10}{'to disk µs':>12}{'x NullHandler':>15}{'x fastevlog':>13}"]
    for name, (called, on_disk) in medians.items():
        rows.append(f"{name:<20}{called / calls * 1e6:>10.2f}{on_disk / calls * 1e6:>12.2f}"
                    f"{on_disk / floor:>15.2f}{on_disk / ours:>13.2f}")
    return "\n".join(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    times = run(args.calls, args.threads, args.rounds)
    print(report(times, args.calls, args.threads, args.rounds))


if __name__ == "__main__":
    main()
