"""The fastevlog command: ``simulate`` runs the seed's workload, ``recover`` replays dead buffers."""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import logging
import os
import sys
import threading
import time
from typing import Iterator, List, Optional

from . import _core
from ._buffer_file import log_files_with_buffers
from ._directory import LogDirectory
from ._logger import EventLogCounter
from ._recovery import recover_buffer_files
from ._rotation import LogFiles

DISTINCT_IDS = 1000  # event i has id event_{i % 1000}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastevlog", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    sim = commands.add_parser(
        "simulate",
        help="log N events from T threads and report the speed",
        description="N events from T threads: event i has id event_{i %% 1000}, level INFO for "
                    "even i and ERROR for odd i, message 'Event {id} occurred.'")
    sim.add_argument("--events", type=int, default=10_000_000, help="events in all (default %(default)s)")
    sim.add_argument("--threads", type=int, default=20, help="producer threads (default %(default)s)")
    sim.add_argument("--dir", dest="directory", default=".", help="log directory (default %(default)s)")
    sim.add_argument("--log-file", default="async_buffered_logs", help="base name (default %(default)s)")
    sim.add_argument("--buffer-size", type=int, default=1_000_000)
    sim.add_argument("--buffer-bytes", type=int, default=32 * 1024 * 1024)
    sim.add_argument("--flush-interval", type=float, default=1.0)
    sim.add_argument("--max-file-size", type=int, default=10 * 1024 * 1024)
    sim.add_argument("--rotate-every", choices=["hourly", "daily"], default=None)
    sim.add_argument("--num-workers", type=int, default=4)
    sim.add_argument("--max-retries", type=int, default=3)
    sim.add_argument("--on-full", choices=["block", "drop"], default="block")
    sim.add_argument("--level", default="DEBUG")
    sim.add_argument("--noop", action="store_true",
                     help="run the same loop calling a no-op instead of logging (the floor to compare with)")
    sim.add_argument("--verify", action="store_true",
                     help="afterwards, read the files back and check every line (slow for big N)")
    sim.add_argument("--no-progress", action="store_true", help="no live progress on stderr")
    rec = commands.add_parser(
        "recover",
        help="write the events left in buffer files of dead processes to log files",
        description="What a logger starting on DIR would do first: the buffer files of processes "
                    "that ended (killed, crashed) are written to log files and removed; those of "
                    "running processes are left alone. Exits with 1 when a buffer file could not be "
                    "recovered completely: it is kept for a later run (an I/O error, a full disk) or, "
                    "when it cannot be read, renamed NAME.quarantined; stderr says which and why.")
    rec.add_argument("directory", metavar="DIR")
    rec.add_argument("--log-file", help="only this base name (default: every one with a buffer file)")
    rec.add_argument("--max-file-size", type=int, default=10 * 1024 * 1024)
    return parser


def recover_command(args: argparse.Namespace) -> int:
    """Recover every dead buffer file in DIR: 0 when all were, 1 when one was kept or set aside."""
    if not os.path.isdir(args.directory):
        raise ValueError(f"{args.directory} is not a directory")
    directory = LogDirectory(args.directory, 0o640)
    log_files = [args.log_file] if args.log_file else log_files_with_buffers(directory)
    failures = 0
    with _warnings_on_stderr():
        for log_file in log_files:
            files = LogFiles(directory, log_file, args.max_file_size, None, 0o640, time.time)
            try:
                report = recover_buffer_files(files)
            finally:
                files.close()
            print(f"{log_file}: recovered {report.events:,} events")
            failures += len(report.failures)
    directory.close()
    if not log_files:
        print(f"no buffer files in {args.directory}")
    if failures:
        print(f"fastevlog: {failures} buffer file(s) could not be recovered completely (see above)",
              file=sys.stderr)
        return 1
    return 0


@contextlib.contextmanager
def _warnings_on_stderr() -> Iterator[None]:
    """Recovery reports what it kept or set aside through logging: show it as the command's own messages."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("fastevlog: %(message)s"))
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("fastevlog")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _produce(log, first: int, events: int, step: int) -> None:
    ids = [f"event_{k}" for k in range(DISTINCT_IDS)]
    messages = [f"Event {event_id} occurred." for event_id in ids]
    levels = ("INFO", "ERROR")
    for i in range(first, events, step):
        k = i % DISTINCT_IDS
        log(levels[i & 1], ids[k], messages[k])


class _Progress:
    """Events/s and files so far on stderr, once a second, until stopped."""

    def __init__(self, total: int, logger: Optional[EventLogCounter]) -> None:
        self._total = total
        self._logger = logger
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fastevlog-progress", daemon=True)

    def __enter__(self) -> _Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            from tqdm import tqdm  # type: ignore[import-untyped]
        except ImportError:  # the [cli] extra is not installed: plain lines
            tqdm = None
        bar = tqdm(total=self._total, unit="ev", unit_scale=True, file=sys.stderr) if tqdm else None
        start, shown = time.perf_counter(), 0
        finished = False
        while not finished:
            finished = self._done.wait(1.0 if bar is None else 0.25)  # one last update after
            if self._logger is None:
                continue
            metrics = self._logger.metrics()
            logged, files = metrics["events_logged"], metrics["files_written"]
            if bar is not None:
                bar.update(logged - shown)
                bar.set_postfix(files=files, refresh=False)
            else:
                rate = logged / (time.perf_counter() - start)
                print(f"{logged:,}/{self._total:,} events, {rate:,.0f} events/s, {files} files",
                      file=sys.stderr, flush=True)
            shown = logged
        if bar is not None:
            bar.close()


def simulate(args: argparse.Namespace) -> int:
    if args.events < 0 or args.threads < 1:
        raise ValueError("--events must be >= 0 and --threads >= 1")
    logger = None
    if args.noop:
        log = _core._noop
    else:
        logger = EventLogCounter(
            log_file=args.log_file, directory=args.directory, buffer_size=args.buffer_size,
            buffer_bytes=args.buffer_bytes, flush_interval=args.flush_interval,
            max_file_size=args.max_file_size, rotate_every=args.rotate_every,
            num_workers=args.num_workers, max_retries=args.max_retries, on_full=args.on_full,
            level=args.level)
        log = logger.log
    producer_cpu: List[float] = []

    def produce(first: int) -> None:
        _produce(log, first, args.events, args.threads)
        producer_cpu.append(time.thread_time())  # this thread's CPU seconds (list.append is atomic)

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(args.threads)]
    progress = _Progress(args.events, logger) if not args.no_progress else None
    start, start_cpu = time.perf_counter(), time.process_time()
    if progress:
        progress.__enter__()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if logger is not None:
            logger.stop()
    finally:
        if progress:
            progress.__exit__(None, None, None)
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu

    print(f"events     {args.events:,}")
    print(f"threads    {args.threads}")
    print(f"wall time  {wall:.2f} s")
    print(f"events/s   {args.events / wall:,.0f}")
    # On N cores up to N times the wall time: how much of the logging overlapped the producers.
    print(f"cpu        {cpu:.2f} s: producer threads {sum(producer_cpu):.2f} s, "
          f"the rest (writers, scheduler, start and stop) {cpu - sum(producer_cpu):.2f} s")
    if logger is None:
        print("logger     no-op (nothing written)")
        return 0
    metrics, counts = logger.metrics(), logger.counts()
    print(f"files      {metrics['files_written']} in {os.path.abspath(args.directory)}")
    print(f"bytes      {metrics['bytes_written']:,}")
    print(f"written    {metrics['events_written']:,} events, {metrics['dropped']:,} dropped")
    for level, n in counts["levels"].items():
        print(f"{level:<10} {n:,}")
    if metrics["events_written"] + metrics["dropped"] != metrics["events_logged"]:
        print("fastevlog: not every logged event was written", file=sys.stderr)
        return 1
    if args.verify:
        lines = _verify(args.directory, args.log_file)
        print(f"verified   {lines:,} lines, each a JSON object with timestamp, level, event_id, message")
        if lines != metrics["events_written"]:
            print(f"fastevlog: the files hold {lines:,} lines, expected {metrics['events_written']:,}",
                  file=sys.stderr)
            return 1
    return 0


def _verify(directory: str, log_file: str) -> int:
    """Lines in the log files, each checked to be JSON with the four keys."""
    lines = 0
    keys = ["timestamp", "level", "event_id", "message"]
    for path in sorted(glob.glob(os.path.join(glob.escape(directory), glob.escape(log_file) + "_*.log"))):
        with open(path, "rb") as file:
            for line in file:
                if list(json.loads(line))[:4] != keys:
                    raise ValueError(f"{path}: line without the four keys: {line[:200]!r}")
                lines += 1
    return lines


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return simulate(args) if args.command == "simulate" else recover_command(args)
    except (OSError, ValueError, RuntimeError) as error:
        print(f"fastevlog: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fastevlog: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
