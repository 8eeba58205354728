"""The fastevlog command: ``simulate`` runs the seed's workload, ``recover`` replays dead buffers,
``count`` counts the lines of log files, ``compress`` compresses and prunes the closed ones,
``ship`` publishes a directory's log files to NATS JetStream, ``collect`` mirrors them from there."""

from __future__ import annotations

import argparse
import contextlib
import glob
import gzip
import io
import json
import logging
import math
import os
import re
import signal
import sys
import threading
import time
from typing import IO, Any, Callable, Dict, Iterator, List, Optional

from . import __version__, _core, _count
from ._buffer_file import log_files_with_buffers
from ._closed_files import list_log_files, log_file_pattern
from ._compression import DEFAULT_LEVELS, KINDS, LEVELS, finish_compressions
from ._directory import LogDirectory
from ._housekeeper import housekeep
from ._logger import EventLogCounter, _check_log_file
from ._nats import import_nats
from ._recovery import recover_buffer_files
from ._rotation import LogFiles
from ._ship_config import NatsShipper

DISTINCT_IDS = 1000  # event i has id event_{i % 1000}
# Events a producer logs between two looks at the stop flag: 20 threads sharing about
# 1M events/s look about every 0.1 s (SIGINT to exit measured 0.2 s, writing included),
# and the look costs one call per 4096 log() calls.
EVENTS_BETWEEN_STOP_CHECKS = 4096

# EventLogCounter's parameters as each command's flags, so that the errors it raises
# name what the user typed (--buffer-bytes), not the Python parameter (buffer_bytes).
SIMULATE_FLAGS = {
    "log_file": "--log-file", "directory": "--dir", "buffer_size": "--buffer-size",
    "buffer_bytes": "--buffer-bytes", "flush_interval": "--flush-interval",
    "max_file_size": "--max-file-size", "rotate_every": "--rotate-every", "num_workers": "--num-workers",
    "max_retries": "--max-retries", "on_full": "--on-full", "level": "--level", "compress": "--compress",
    "compress_level": "--compress-level", "keep_files": "--keep-files", "keep_bytes": "--keep-bytes",
    "keep_days": "--keep-days", "ship_to": "--ship-to",
}
KEEP_FLAGS = ("--keep-files", "--keep-bytes", "--keep-days")
RECOVER_FLAGS = {"log_file": "--log-file", "directory": "DIR", "max_file_size": "--max-file-size"}
COUNT_FLAGS = {"paths:": "PATH", "by": "--by", "since": "--since", "until": "--until", "levels": "--level",
               "event_id": "--event-id", "jobs": "--jobs"}
# count()'s messages start with the parameter (and name the other one of a window after "not before").
COUNT_PARAMETER = re.compile(r"(^|\bnot before )(" + "|".join(COUNT_FLAGS) + ")")
SHIP_FLAGS = {"servers": "--nats", "stream": "--stream", "subject": "--subject", "host": "--host"}
COLLECT_FLAGS = {"servers": "--nats", "stream": "--stream", "directory": "--dir", "durable": "--durable",
                 "batch": "--batch", "ack_wait": "--ack-wait", "until_idle": "--until-idle"}
# Inputs larger than this get a progress bar (when stderr is a terminal): smaller ones take about a second.
COUNT_PROGRESS_BYTES = 100 * 1000 * 1000


class UsageError(Exception):
    """A flag's value the command refuses before doing anything: exit status 2, as argparse's own."""


class CommandFailed(Exception):
    """The command ran and could not do its work: exit status 1, the message on stderr."""


def name_flags(message: str, flags: Dict[str, str]) -> str:
    """message with each parameter name in flags replaced by its flag.

    Names with an underscore are replaced wherever they stand; plain words
    (directory, level) are English too, so only as the message's subject or as
    a keyword (``directory=``).
    """
    for parameter, flag in flags.items():
        anywhere, as_subject_or_keyword = rf"\b{parameter}\b=?", rf"^{parameter}\b|\b{parameter}="
        pattern = anywhere if "_" in parameter else as_subject_or_keyword
        message = re.sub(pattern, flag, message)
    return message


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least minimum (underscores allowed: 10_000_000)."""
    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        return value
    return whole_number


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, at least 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, not {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds ≥ 0, not {text}")
    return value


def _port(text: str) -> int:
    """An argparse type: a TCP port number, 0 for any free one."""
    port = _int_at_least(0)(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port, 0 to 65535, not {port}")
    return port


def _days(text: str) -> float:
    """An argparse type: a positive, finite number of days (fractions allowed: 0.5 is 12 hours)."""
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of days, not {text!r}") from None
    if not 0 < days < math.inf:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a positive number of days, not {text!r}")
    return days


def _add_housekeeping_flags(parser: argparse.ArgumentParser, compress_help: str,
                            compress_default: Optional[str]) -> None:
    """The flags of simulate and compress that say what happens to closed log files."""
    parser.add_argument("--compress", choices=sorted(KINDS), default=compress_default, help=compress_help)
    parser.add_argument("--compress-level", type=_int_at_least(1), metavar="N",
                        help=f"gzip {LEVELS['gzip'][0]}-{LEVELS['gzip'][-1]} "
                             f"(default {DEFAULT_LEVELS['gzip']}), zstd {LEVELS['zstd'][0]}-"
                             f"{LEVELS['zstd'][-1]} (default {DEFAULT_LEVELS['zstd']})")
    parser.add_argument("--keep-files", type=_int_at_least(0), metavar="N",
                        help="keep the newest N closed log files, delete the older ones "
                             "(files being written come on top)")
    parser.add_argument("--keep-bytes", type=_int_at_least(0), metavar="N",
                        help="keep the newest closed log files up to N bytes on disk (compressed or "
                             "not), delete the older ones")
    parser.add_argument("--keep-days", type=_days, metavar="D",
                        help="delete closed log files last written more than D days ago")


def _check_compression(args: argparse.Namespace) -> None:
    """--compress-level fits --compress, and --compress zstd has its package: else an error naming them."""
    if args.compress_level is not None:
        if args.compress is None:
            raise UsageError("--compress-level needs --compress gzip or --compress zstd")
        levels = LEVELS[args.compress]
        if args.compress_level not in levels:
            raise UsageError(f"--compress-level must be {levels[0]} to {levels[-1]} for --compress "
                             f"{args.compress}, not {args.compress_level}")
    if args.compress == "zstd" and not _zstandard_installed():
        raise CommandFailed("--compress zstd needs the zstandard package: pip install 'fastevlog[zstd]', "
                            "or use --compress gzip")


def _zstandard_installed() -> bool:
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return False
    return True


def _log_file_name(text: str) -> str:
    """An argparse type: a base name EventLogCounter accepts (checked here, as recover has no logger)."""
    try:
        return _check_log_file(text)
    except (TypeError, ValueError) as error:
        # argparse names the flag already: "argument --log-file: must be ..."
        reason = name_flags(str(error), RECOVER_FLAGS).removeprefix("--log-file ")
        raise argparse.ArgumentTypeError(reason) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastevlog",
        description="fastevlog's command line: run the benchmark workload, or write the events that "
                    "dead processes left in their buffer files.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print the version of fastevlog and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     help="one of these; `fastevlog COMMAND --help` shows its flags")
    sim = commands.add_parser(
        "simulate",
        help="log N events from T threads and report the speed",
        description="N events from T threads: event i has id event_{i % 1000}, level INFO for "
                    "even i and ERROR for odd i, message 'Event {id} occurred.' The defaults write "
                    "about 1.2 GB of log files into --dir. Ctrl-C stops the threads, writes what they "
                    "logged and exits with status 130. Exit status: 0 when every event logged was "
                    "written, 1 when not or on an error while running, 2 on a bad flag.")
    sim.set_defaults(run=simulate, command_parser=sim)
    sim.add_argument("--events", type=_int_at_least(0), default=10_000_000, metavar="N",
                     help="events in all (default %(default)s)")
    sim.add_argument("--threads", type=_int_at_least(1), default=20, metavar="T",
                     help="producer threads, each logging every T-th event (default %(default)s)")
    sim.add_argument("--dir", dest="directory", default=".", metavar="DIR",
                     help="log directory, created if missing (default: the current directory)")
    sim.add_argument("--log-file", default="async_buffered_logs", metavar="NAME",
                     help="base name of the log files, NAME_YYYYMMDD_HHMMSS_NNNNNN.log "
                          "(default %(default)s)")
    sim.add_argument("--buffer-size", type=int, default=1_000_000, metavar="EVENTS",
                     help="pending events that trigger a flush (default %(default)s)")
    sim.add_argument("--buffer-bytes", type=int, default=32 * 1024 * 1024, metavar="BYTES",
                     help="capacity of the buffer file, at least 65536 (default %(default)s)")
    sim.add_argument("--flush-interval", type=float, default=1.0, metavar="SECONDS",
                     help="seconds between flushes of whatever is pending (default %(default)s)")
    sim.add_argument("--max-file-size", type=int, default=10 * 1024 * 1024, metavar="BYTES",
                     help="rotate a log file before it would exceed this size (default %(default)s)")
    sim.add_argument("--rotate-every", choices=["hourly", "daily"], default=None,
                     help="also rotate every hour or day, UTC (default: by size only)")
    sim.add_argument("--num-workers", type=int, default=4, metavar="N",
                     help="writer threads (default %(default)s)")
    sim.add_argument("--max-retries", type=int, default=3, metavar="N",
                     help="retries of a failed write before it is reported (default %(default)s)")
    sim.add_argument("--on-full", choices=["block", "drop"], default="block",
                     help="when the buffer is full: wait for the writers, or drop the event and "
                          "count it (default %(default)s)")
    sim.add_argument("--level", type=str.upper, choices=_core.LEVEL_NAMES, default="DEBUG",
                     help="minimum level written, any case (default %(default)s)")
    _add_housekeeping_flags(sim, "compress each closed log file on a background thread, to "
                                 "NAME.log.gz or NAME.log.zst (zstd needs pip install 'fastevlog[zstd]') "
                                 "(default: not compressed)", None)
    sim.add_argument("--ship-to", metavar="URL[,URL...]",
                     help="ship the log files to these NATS servers' JetStream stream while logging, as "
                          "EventLogCounter(ship_to=NatsShipper(URL)) does; stop waits up to 5 s for the "
                          "rest (needs pip install 'fastevlog[nats]') (default: not shipped)")
    sim.add_argument("--ship-stream", default="FASTEVLOG", metavar="NAME",
                     help="the stream --ship-to publishes to, created if missing (default %(default)s)")
    sim.add_argument("--noop", action="store_true",
                     help="run the same loop calling a no-op instead of logging (the floor to compare with)")
    sim.add_argument("--verify", action="store_true",
                     help="afterwards, read the files back and check every line (slow for big N)")
    sim.add_argument("--no-progress", action="store_true", help="no live progress on stderr")
    sim.add_argument("--metrics-port", type=_port, default=None, metavar="PORT",
                     help="serve the logger's Prometheus metrics at http://ADDRESS:PORT/metrics while "
                          "running (0: a free port; the URL is printed on stderr); needs "
                          "pip install 'fastevlog[prometheus]'")
    sim.add_argument("--metrics-address", default="127.0.0.1", metavar="ADDRESS",
                     help="the address --metrics-port listens on (default %(default)s, this machine "
                          "only; 0.0.0.0 for every interface)")
    rec = commands.add_parser(
        "recover",
        help="write the events left in buffer files of dead processes to log files",
        description="What a logger starting on DIR would do first: the buffer files of processes "
                    "that ended (killed, crashed) are written to log files and removed; those of "
                    "running processes are left alone. Then compressions that killed processes "
                    "left are finished (or undone), as a logger starting does. Exits with 1 when a "
                    "buffer file could not be recovered completely: it is kept for a later run (an I/O "
                    "error, a full disk) or, when it cannot be read, renamed NAME.quarantined; stderr "
                    "says which and why. "
                    "Exit status 2 on a bad flag.")
    rec.set_defaults(run=recover_command, command_parser=rec)
    rec.add_argument("directory", metavar="DIR", help="the log directory holding the buffer files")
    rec.add_argument("--log-file", type=_log_file_name, metavar="NAME",
                     help="only this base name (default: every one with a buffer file)")
    rec.add_argument("--max-file-size", type=_int_at_least(1), default=10 * 1024 * 1024, metavar="BYTES",
                     help="rotate a log file before it would exceed this size (default %(default)s)")
    cmp = commands.add_parser(
        "compress",
        help="compress the closed log files of a directory, and delete the old ones",
        description="What a logger with compress= and keep_*= does in the background, once: first "
                    "finishes (or undoes) the compressions that stopped or killed processes left, then "
                    "deletes the closed log files past --keep-files/--keep-days, compresses the closed "
                    "ones left (oldest first), and deletes those past --keep-bytes. Files that a "
                    "running logger writes, empty files and files a dead process's buffer still has "
                    "events for are left alone. Safe while loggers run on DIR. Exit status: 0 when "
                    "done, 1 when a file could not be compressed or deleted (it is kept; stderr says "
                    "why), 2 on a bad flag.")
    cmp.set_defaults(run=compress_command, command_parser=cmp)
    cmp.add_argument("directory", metavar="DIR", help="the log directory")
    cmp.add_argument("--log-file", type=_log_file_name, metavar="NAME",
                     help="only the files of this base name, NAME_YYYYMMDD_HHMMSS*.log (default: every "
                          "base name in DIR)")
    default_kind = "zstd" if _zstandard_installed() else "gzip"
    _add_housekeeping_flags(cmp, "compress to NAME.log.gz or NAME.log.zst (default: zstd when the "
                                 "zstandard package is installed, else gzip; here %(default)s)", default_kind)
    shp = commands.add_parser(
        "ship",
        help="publish a directory's log files to a NATS JetStream stream, as they are written",
        description="A sidecar beside the processes that log into DIR (any number of them, any base "
                    "name): publishes the lines written to DIR's log files to the JetStream stream, in "
                    "chunks of whole lines, each under an id naming its host, file and byte range, and "
                    "keeps how far each file is acked in DIR/.fastevlog-ship-STREAM.json. Restarted, it "
                    "goes on from there; chunks published again keep their ids. One shipper at a time "
                    "ships DIR to a stream: a second one waits for the first to end. While servers are "
                    "down it waits for them and the files accumulate. Creates the stream (file storage, "
                    "one replica) if it is missing. Runs until SIGTERM or Ctrl-C (exit status 0), or "
                    "with --until-idle until nothing was left to ship for that long. Exit status 1 on "
                    "an error, 2 on a bad flag. Needs pip install 'fastevlog[nats]'.")
    shp.set_defaults(run=ship_command, command_parser=shp)
    shp.add_argument("directory", metavar="DIR", help="the log directory")
    shp.add_argument("--nats", required=True, metavar="URL[,URL...]",
                     help="the NATS servers, e.g. nats://127.0.0.1:4222 (several: comma-separated)")
    shp.add_argument("--stream", default="FASTEVLOG", metavar="NAME",
                     help="the JetStream stream (default %(default)s)")
    shp.add_argument("--subject", metavar="SUBJECT",
                     help="the subject published on; the stream must take it (default fastevlog.STREAM)")
    shp.add_argument("--host", metavar="NAME",
                     help="this machine's name at the collector, which mirrors its files under DIR/NAME "
                          "(default: the host name; give each directory shipped to one stream its own)")
    shp.add_argument("--until-idle", type=_seconds, metavar="SECONDS",
                     help="exit once nothing was left to ship for SECONDS (default: run until stopped)")
    col = commands.add_parser(
        "collect",
        help="write the chunks shipped to a JetStream stream into a mirror of each host's log files",
        description="Pulls the chunks that `fastevlog ship` published to the stream from a durable "
                    "consumer (--durable, created if missing; an existing one is used as it is, so "
                    "several collectors can share it) and writes each at its offset into DIR/HOST/FILE, "
                    "a byte-identical mirror of every shipped log file, for `fastevlog count DIR`. A chunk "
                    "is acked only once written and synced to disk: one delivered again rewrites the "
                    "same bytes. Invalid messages are rejected (never written; said on stderr). A write "
                    "that fails (a full disk, a symlink in DIR) is not acked and is retried later. Runs "
                    "until SIGTERM or Ctrl-C, or with --until-idle until nothing came for that long; "
                    "either way the chunks in hand are written and acked first, and the exit status is "
                    "0. Exit status 1 on an error, 2 on a bad flag. Needs pip install 'fastevlog[nats]'.")
    col.set_defaults(run=collect_command, command_parser=col)
    col.add_argument("--nats", required=True, metavar="URL[,URL...]",
                     help="the NATS servers, e.g. nats://127.0.0.1:4222 (several: comma-separated)")
    col.add_argument("--dir", dest="directory", required=True, metavar="DIR",
                     help="the mirror directory, created if missing (host directories 0750, files 0640)")
    col.add_argument("--stream", default="FASTEVLOG", metavar="NAME",
                     help="the JetStream stream the shippers publish to (default %(default)s)")
    col.add_argument("--durable", default="fastevlog-collect", metavar="NAME",
                     help="the durable consumer's name; collectors given the same one share the chunks "
                          "(default %(default)s)")
    col.add_argument("--batch", type=_int_at_least(1), default=64, metavar="N",
                     help="chunks fetched, written and synced together (default %(default)s)")
    col.add_argument("--ack-wait", type=_seconds, default=30.0, metavar="SECONDS",
                     help="when creating the consumer: how long a chunk delivered and not acked (a "
                          "collector killed) waits before it is delivered again (default %(default)g)")
    col.add_argument("--until-idle", type=_seconds, metavar="SECONDS",
                     help="exit once no chunk came for SECONDS while connected (default: run until "
                          "stopped)")
    cnt = commands.add_parser(
        "count",
        help="count the lines of log files by level, event id, time or a field",
        description="Count the JSON lines of log files (fastevlog's or any other writer's) in groups. "
                    "Lines that are not a JSON object with a string level and a string or integer "
                    "event_id are bad lines: skipped, and counted apart. A live file is counted up to "
                    "its first range of NUL bytes (not written yet) and its last whole line. gzip and "
                    "zstd files are read by their first bytes. Exit status: 0 when counted (bad lines "
                    "and damaged compressed files are said on stderr), 1 when a file cannot be read, "
                    "2 on a bad flag or a PATH that does not exist.")
    cnt.set_defaults(run=count_command, command_parser=cnt)
    cnt.add_argument("paths", nargs="+", metavar="PATH",
                     help="a file, a directory (searched recursively for *.log, *.log.gz, *.log.zst), "
                          "or - for standard input; several PATHs are counted together")
    cnt.add_argument("--by", default="level,event_id", metavar="KEYS",
                     help="comma-separated keys of a group among level, event_id, minute, hour, day "
                          "(of the line's timestamp, UTC), source (the PATH a line came from), "
                          "field:NAME (a top-level field's value) (default %(default)s)")
    cnt.add_argument("--since", metavar="T",
                     help="only lines at or after T: RFC 3339 (2026-11-28T16:03:05+01:00), or "
                          "YYYY-MM-DD[THH:MM[:SS]] taken as UTC")
    cnt.add_argument("--until", metavar="T", help="only lines before T, written as for --since")
    cnt.add_argument("--level", dest="levels", metavar="L[,L...]",
                     help="only lines of these levels (any case; WARN is WARNING, FATAL is CRITICAL)")
    cnt.add_argument("--event-id", metavar="GLOB",
                     help="only lines whose event id matches GLOB (*, ?, [seq]; case-sensitive; an "
                          "integer id in decimal)")
    cnt.add_argument("--format", choices=["table", "json", "csv"], default="table",
                     help="table (aligned, with the total), json (one object: total, groups, files, "
                          "bytes, bad_lines) or csv (a header row, a row per group) (default %(default)s)")
    cnt.add_argument("--top", type=_int_at_least(1), metavar="K",
                     help="only the K largest groups (the total stays the count of every group)")
    cnt.add_argument("--jobs", type=_int_at_least(1), metavar="N",
                     help="files read at the same time (default: the CPUs this process may use)")
    return parser


def count_command(args: argparse.Namespace) -> int:
    """Count, print the groups on stdout, bad lines and damaged files on stderr: 0 once counted."""
    try:
        job = _count._prepare(args.paths, args.by, args.since, args.until, args.levels, args.event_id,
                              args.jobs)
    except (TypeError, ValueError, FileNotFoundError) as error:
        message = COUNT_PARAMETER.sub(lambda match: match[1] + COUNT_FLAGS[match[2]], str(error))
        raise UsageError(message) from None
    progress = sys.stderr.isatty() and job.input_bytes > COUNT_PROGRESS_BYTES
    result = job.run(progress=progress)
    for damaged in result.damaged:
        print(f"fastevlog: {damaged.path}: {damaged.reason}; its lines before that are counted",
              file=sys.stderr)
    if args.format == "json":
        text = result.as_json(args.top) + "\n"
    elif args.format == "csv":
        text = result.as_csv(args.top)
    else:
        text = result.as_table(args.top)
    sys.stdout.flush()
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:  # a PATH of bytes that are not UTF-8 (its key is the PATH): as given
        encoded = text.encode("utf-8", "surrogateescape")
    sys.stdout.buffer.write(encoded)
    sys.stdout.buffer.flush()
    if args.format != "json" and result.bad_lines:  # json has its own bad_lines
        timestamp = ", and an RFC 3339 timestamp" if job.reads_timestamps else ""
        print(f"fastevlog: {result.bad_lines:,} bad lines skipped (not a JSON object with a string level "
              f"and a string or integer event_id{timestamp})", file=sys.stderr)
    return 0


def compress_command(args: argparse.Namespace) -> int:
    """Housekeep DIR once per base name; 0 when done, 1 when a file could not be compressed or deleted."""
    _check_compression(args)
    if not os.path.isdir(args.directory):
        raise CommandFailed(f"{args.directory} is not a directory")
    log_files = [args.log_file] if args.log_file else _base_names(args.directory)
    failures = 0
    with _housekeeping_said() as errors:
        for log_file in log_files:
            report = housekeep(args.directory, log_file, args.compress, args.compress_level, args.keep_files,
                               args.keep_bytes, args.keep_days)
            left = sum(file.forms[0] == file.name for file in _listed(args.directory, log_file))
            print(f"{log_file}: {report.files_compressed} compressed, {report.files_deleted} deleted "
                  f"({report.bytes_deleted:,} bytes), {left} not compressed (being written, empty, "
                  f"awaiting recovery or failed)")
            failures += report.compress_failures
    if not log_files:
        print(f"no log files in {args.directory}")
    if failures or errors[0]:
        print("fastevlog: not every file could be compressed or deleted (see above); those are kept as they "
              "were, for another run", file=sys.stderr)
        return 1
    return 0


def ship_command(args: argparse.Namespace) -> int:
    """Ship DIR until a signal or --until-idle; 0 then."""
    try:
        config = NatsShipper(args.nats, args.stream, args.subject, args.host)
    except (TypeError, ValueError) as error:
        raise UsageError(name_flags(str(error), SHIP_FLAGS)) from None
    if not os.path.isdir(args.directory):
        raise CommandFailed(f"{args.directory} is not a directory")
    try:
        import_nats()
    except ImportError as error:
        raise CommandFailed(str(error)) from None
    from ._shipper import Shipper  # here: asyncio is loaded by the commands that need it

    directory = LogDirectory(args.directory, 0o640)
    shipper = Shipper(config, directory)
    previous = {number: signal.signal(number, lambda *_: shipper.stop_now())
                for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        shipper.run(args.until_idle)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        directory.close()
    report = shipper.report
    print(f"shipped {report.shipped_events:,} lines ({report.shipped_bytes:,} bytes) to {config.stream}; "
          f"{report.ship_lag_bytes:,} bytes not shipped yet; {report.ship_publish_retries} publish retries, "
          f"{report.ship_reconnects} reconnects")
    return 1 if shipper.failed else 0


def collect_command(args: argparse.Namespace) -> int:
    """Collect into --dir until a signal or --until-idle; 0 then."""
    from ._collector import Collector  # here: asyncio is loaded by the commands that need it

    try:
        collector = Collector(args.nats, args.stream, args.directory, args.durable, args.batch, args.ack_wait)
    except (TypeError, ValueError) as error:
        raise UsageError(name_flags(str(error), COLLECT_FLAGS)) from None
    try:
        import_nats()
    except ImportError as error:
        raise CommandFailed(str(error)) from None
    stop = threading.Event()

    def on_signal(number: int, frame: Any) -> None:
        # The chunks in hand are written and acked first; a second signal quits at once (what was not
        # acked is delivered again after --ack-wait).
        stop.set()
        signal.signal(number, signal.SIG_DFL)

    previous = {number: signal.signal(number, on_signal) for number in (signal.SIGTERM, signal.SIGINT)
                if signal.getsignal(number) != signal.SIG_IGN}
    try:
        collector.run(stopping=stop.is_set, until_idle=args.until_idle)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    report = collector.report
    print(f"collected {report.messages:,} chunks ({report.bytes:,} bytes) from {args.stream} into "
          f"{args.directory}; {report.rejected} rejected, {report.write_failures} not written (left for "
          f"redelivery), {report.reconnects} reconnects")
    if report.rejected:
        print(f"fastevlog: {report.rejected} invalid message(s) rejected and not written (see above)",
              file=sys.stderr)
    return 0


def _base_names(directory: str) -> List[str]:
    """The log_file names of DIR's log files, compressed or not."""
    pattern = log_file_pattern(None)
    matches = (pattern.fullmatch(entry) for entry in os.listdir(directory))
    return sorted({match.group(1) for match in matches if match is not None})


def _listed(directory: str, log_file: str) -> List[Any]:
    opened = LogDirectory(directory, 0o640)
    try:
        return list_log_files(opened, log_file)
    finally:
        opened.close()


@contextlib.contextmanager
def _housekeeping_said() -> Iterator[List[int]]:
    """The housekeeping's INFO lines (compressed, deleted) on stdout while inside; yields [errors]:
    the ERRORs logged (on stderr already), which fail the command."""
    errors = [0]

    class Said(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                errors[0] += 1
            elif record.levelno == logging.INFO:
                print(self.format(record))

    handler = Said(logging.INFO)
    logger = logging.getLogger("fastevlog")
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield errors
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def recover_command(args: argparse.Namespace) -> int:
    """Recover every dead buffer file in DIR, then finish compressions cut short: 0 when every buffer
    file was recovered, 1 when one was kept or set aside."""
    # Not a usage error: the same command may work once the directory is there.
    if not os.path.isdir(args.directory):
        raise CommandFailed(f"{args.directory} is not a directory")
    directory = LogDirectory(args.directory, 0o640)
    log_files = [args.log_file] if args.log_file else log_files_with_buffers(directory)
    failures = 0
    for log_file in log_files:
        files = LogFiles(directory, log_file, args.max_file_size, None, 0o640, time.time)
        try:
            report = recover_buffer_files(files)
        finally:
            files.close()
        print(f"{log_file}: recovered {report.events:,} events")
        failures += len(report.failures)
    try:
        # After recovery, as a logger's start does: a compressed file is never one recovery writes into.
        finished = finish_compressions(directory, args.log_file)
    finally:
        directory.close()
    if not log_files:
        print(f"no buffer files in {args.directory}")
    if finished:
        print(f"finished {finished} compression(s) cut short by killed processes")
    if failures:
        print(f"fastevlog: {failures} buffer file(s) could not be recovered completely (see above)",
              file=sys.stderr)
        return 1
    return 0


@contextlib.contextmanager
def _warnings_on_stderr() -> Iterator[None]:
    """Warnings of the logger and of recovery (what they kept, set aside, failed to write), as our own."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("fastevlog: %(message)s"))
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("fastevlog")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _produce(log: Callable[..., Any], first: int, events: int, step: int,
             stop: Optional[threading.Event] = None) -> int:
    """Log events first, first + step, ... below events until stop is set; returns how many it logged."""
    ids = [f"event_{k}" for k in range(DISTINCT_IDS)]
    messages = [f"Event {event_id} occurred." for event_id in ids]
    levels = ("INFO", "ERROR")
    stride = step * EVENTS_BETWEEN_STOP_CHECKS
    logged = 0
    for chunk in range(first, events, stride):
        # The inner loop is the seed's, untouched: the stop flag costs nothing per event.
        chunk_events = range(chunk, min(chunk + stride, events), step)
        for i in chunk_events:
            k = i % DISTINCT_IDS
            log(levels[i & 1], ids[k], messages[k])
        logged += len(chunk_events)
        if stop is not None and stop.is_set():
            break
    return logged


@contextlib.contextmanager
def _signals_set(stop: threading.Event, received: List[int]) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM set stop (and are appended to received) instead of ending the run.

    The producers see stop within EVENTS_BETWEEN_STOP_CHECKS events, and the
    logger writes what they logged.  A second signal is not waited for: its
    default action ends the process at once; what was not written yet stays in
    the buffer file, for the next logger on the directory or `fastevlog recover`.
    The handler says so at once, even while producers wait for buffer space
    (a stuck disk): with os.write, as sys.stderr may be in the middle of a
    write in this same thread, which a print from the handler would re-enter.
    """
    installed: Dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():  # where Python runs handlers

        def on_signal(signum: int, frame: Any) -> None:
            received.append(signum)
            stop.set()
            signal.signal(signum, signal.SIG_DFL)
            name = signal.Signals(signum).name
            # On a line of its own: a progress bar may be half drawn.
            message = (f"\nfastevlog: {name}: stopping the producers and writing what they logged "
                       f"(another {name} quits at once and leaves the rest in the buffer file "
                       "for `fastevlog recover DIR`)\n")
            with contextlib.suppress(OSError):  # no stderr: nothing to say it on
                os.write(2, message.encode())

        for stopping in (signal.SIGINT, signal.SIGTERM):
            # Left ignored when ignored (nohup, a background job of a script), as any command would.
            if signal.getsignal(stopping) != signal.SIG_IGN:
                installed[stopping] = signal.signal(stopping, on_signal)
    try:
        yield
    finally:
        for restored, handler in installed.items():
            signal.signal(restored, handler)


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


def _start_logger(args: argparse.Namespace) -> EventLogCounter:
    """The logger simulate's flags describe; its errors name the flags."""
    _check_compression(args)
    try:
        ship_to = None
        if args.ship_to is not None:
            ship_to = NatsShipper(args.ship_to, stream=args.ship_stream)
    except (TypeError, ValueError) as error:
        flags = {"servers": "--ship-to", "stream": "--ship-stream"}
        raise UsageError(name_flags(str(error), flags)) from None
    if ship_to is not None:
        try:
            import_nats()
        except ImportError as error:
            raise CommandFailed(f"--ship-to: {error}") from None
    try:
        return EventLogCounter(
            log_file=args.log_file, directory=args.directory, buffer_size=args.buffer_size,
            buffer_bytes=args.buffer_bytes, flush_interval=args.flush_interval,
            max_file_size=args.max_file_size, rotate_every=args.rotate_every,
            num_workers=args.num_workers, max_retries=args.max_retries, on_full=args.on_full,
            level=args.level, compress=args.compress, compress_level=args.compress_level,
            keep_files=args.keep_files, keep_bytes=args.keep_bytes, keep_days=args.keep_days,
            ship_to=ship_to)
    except (TypeError, ValueError) as error:  # its parameters are checked before anything is created
        raise UsageError(name_flags(str(error), SIMULATE_FLAGS)) from None
    except OSError as error:  # the directory or the buffer file could not be made: nothing the flags said
        if error.strerror and error.filename is not None and len(error.args) == 2:  # the OS's own words
            reason = f"{error.strerror}: {error.filename}"
        else:
            reason = name_flags(str(error), SIMULATE_FLAGS)
        raise CommandFailed(f"cannot start the logger in --dir {args.directory}: {reason}") from None


class _MetricsEndpoint:
    """/metrics of simulate's logger, served by prometheus-client's own server while the command runs."""

    def __init__(self, port: int, address: str) -> None:
        try:
            import prometheus_client

            from .prometheus import EventLogCollector
        except ImportError:
            raise CommandFailed("--metrics-port needs prometheus-client: "
                                "pip install 'fastevlog[prometheus]'") from None
        self._collector = EventLogCollector
        # A registry of its own: the logger's metrics and the process's (CPU, memory), nothing else.
        self._registry = prometheus_client.CollectorRegistry()
        prometheus_client.ProcessCollector(registry=self._registry)
        try:
            # Before the logger starts, so that a port in use leaves no files behind.
            started = prometheus_client.start_http_server(port, addr=address, registry=self._registry)
        except OSError as error:
            raise CommandFailed(f"--metrics-port {port} on --metrics-address {address}: "
                                f"{error.strerror or error}; choose another port (0 picks a free one)"
                                ) from None
        # Older prometheus-client versions return nothing: their server cannot be shut down or asked its port.
        self._server = started[0] if isinstance(started, tuple) else None
        port = self._server.server_port if self._server is not None else port
        host = f"[{address}]" if ":" in address else address
        print(f"metrics    http://{host}:{port}/metrics", file=sys.stderr, flush=True)

    def watch(self, logger: EventLogCounter) -> None:
        self._collector([logger], registry=self._registry)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def simulate(args: argparse.Namespace) -> int:
    """Run the producers, stop the logger, print what was logged and written (exit statuses: see --help)."""
    keeping = [flag for flag in KEEP_FLAGS if getattr(args, flag[2:].replace("-", "_")) is not None]
    if args.verify and keeping:
        raise UsageError(f"--verify checks that the files hold every event, and {keeping[0]} deletes "
                         f"files: leave one of them out")
    if args.metrics_port is None:
        return _simulate(args, None)
    if args.noop:
        raise UsageError("--metrics-port has no logger to report on with --noop: leave one of them out")
    endpoint = _MetricsEndpoint(args.metrics_port, args.metrics_address)
    try:
        return _simulate(args, endpoint)
    finally:
        endpoint.close()


def _simulate(args: argparse.Namespace, endpoint: Optional[_MetricsEndpoint]) -> int:
    logger = None
    if args.noop:
        log = _core._noop
    else:
        logger = _start_logger(args)
        if endpoint is not None:
            endpoint.watch(logger)
        log = logger.log
    stop = threading.Event()
    signals: List[int] = []
    producer_cpu: List[float] = []
    producer_events: List[int] = []
    producer_errors: List[BaseException] = []

    def produce(first: int) -> None:
        try:
            producer_events.append(_produce(log, first, args.events, args.threads, stop))
        except BaseException as error:  # stop the others and report it, rather than a traceback per thread
            producer_errors.append(error)
            stop.set()
        producer_cpu.append(time.thread_time())  # this thread's CPU seconds (list.append is atomic)

    threads = [threading.Thread(target=produce, args=(t,), name=f"fastevlog-producer-{t}")
               for t in range(args.threads)]
    progress = _Progress(args.events, logger) if not args.no_progress else None
    start, start_cpu = time.perf_counter(), time.process_time()
    with _signals_set(stop, signals):
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
    events = sum(producer_events)

    if events == args.events:
        print(f"events     {events:,}")
    else:
        print(f"events     {events:,} of {args.events:,}, stopped early")
    print(f"threads    {args.threads}")
    print(f"wall time  {wall:.2f} s")
    print(f"events/s   {events / wall:,.0f}")
    # On N cores up to N times the wall time: how much of the logging overlapped the producers.
    print(f"cpu        {cpu:.2f} s: producer threads {sum(producer_cpu):.2f} s, "
          f"the rest (writers, scheduler, start and stop) {cpu - sum(producer_cpu):.2f} s")
    status = _written(args, logger) if logger is not None else 0
    if logger is None:
        print("logger     no-op (nothing written)")
    if producer_errors:
        error = producer_errors[0]
        raise CommandFailed(f"a producer thread failed: {type(error).__name__}: {error}")
    if signals:
        return 128 + signals[0]  # the shell's convention for "ended by this signal"
    return status


def _written(args: argparse.Namespace, logger: EventLogCounter) -> int:
    """Print what the stopped logger wrote; 1 if it is not every event logged, else 0."""
    metrics, counts = logger.metrics(), logger.counts()
    print(f"files      {metrics['files_written']} in {os.path.abspath(args.directory)}")
    print(f"bytes      {metrics['bytes_written']:,}")
    print(f"logged     {metrics['events_logged']:,} events")
    print(f"written    {metrics['events_written']:,} events, {metrics['dropped']:,} dropped")
    if args.compress is not None:
        # stop() does not wait for a compression: what is left is done at the next start or by
        # `fastevlog compress`.
        print(f"compressed {metrics['files_compressed']} files, {metrics['compress_failures']} failures")
    if any(getattr(args, flag[2:].replace("-", "_")) is not None for flag in KEEP_FLAGS):
        print(f"deleted    {metrics['files_deleted']} files, {metrics['bytes_deleted']:,} bytes")
    if args.ship_to is not None:
        # What stop()'s wait did not ship goes at the next start, or with `fastevlog ship`.
        print(f"shipped    {metrics['shipped_events']:,} events, {metrics['shipped_bytes']:,} bytes acked; "
              f"{metrics['ship_lag_bytes']:,} bytes not yet")
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
    """Lines in the log files (compressed ones too), each checked to be JSON with the four keys."""
    lines = 0
    keys = ["timestamp", "level", "event_id", "message"]
    for path in _log_files_once(directory, log_file):
        with _open_log(path) as file:
            for line in file:
                if list(json.loads(line))[:4] != keys:
                    raise ValueError(f"{path}: line without the four keys: {line[:200]!r}")
                lines += 1
    return lines


def _log_files_once(directory: str, log_file: str) -> List[str]:
    """Each of log_file's files once: NAME.log, else its compressed form (both are there only while a
    compression finishes)."""
    prefix = os.path.join(glob.escape(directory), glob.escape(log_file))
    paths = {path for suffix in (".log", ".log.gz", ".log.zst") for path in glob.glob(f"{prefix}_*{suffix}")}
    return sorted(path for path in paths
                  if path.endswith(".log") or path[:path.rindex(".log") + len(".log")] not in paths)


def _open_log(path: str) -> IO[bytes]:
    if path.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if path.endswith(".zst"):
        import zstandard

        compressed = open(path, "rb")  # noqa: SIM115 (the reader closes it)
        reader = zstandard.ZstdDecompressor().stream_reader(compressed, read_across_frames=True, closefd=True)
        return io.BufferedReader(reader)  # type: ignore[arg-type]
    return open(path, "rb")


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line's command: 0 done, 1 failed while running, 2 a usage error, 128+N signal N."""
    args = _parser().parse_args(argv)
    try:
        with _warnings_on_stderr():
            return args.run(args)
    except UsageError as error:
        args.command_parser.error(str(error))  # exits with 2, the usage first, as argparse does
    except BrokenPipeError:
        # The reader left (`| head`): nothing more to say to it, and no second error at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (CommandFailed, OSError, RuntimeError, ValueError) as error:
        print(f"fastevlog: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fastevlog: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    return 2  # not reached: error() exits


if __name__ == "__main__":
    sys.exit(main())
