"""Compression of rotated files (issue 14), side by side in one run: its cost to log(), its speed, the job.

Three parts, each against a reference measured in the same run, rounds interleaved, medians reported:

(a) log() with the writers and a compressor running against the same without compression: hot_path.py's
    "log(), writers running" row (3M calls of ``log("INFO", "event_7", message)``, the events fit in the
    buffer, flush() between rounds), here with two loggers that differ only in ``compress="zstd"``, both
    rotating at --max-file-size (4 MiB) so that files close, and are compressed, while the calls are
    timed. The row says how many files the compressor finished during the timed calls (its metrics), and
    each thread's CPU (writers, scheduler, housekeeper) during them. Between rounds the compressor
    catches up (untimed), every event is checked to be in the files (the .zst ones decompressed), and
    the files are removed, as hot_path.py does, so that no round pays for writing back another's.
(b) the compressor's throughput: ``fastevlog._housekeeper.housekeep(DIR, log_file, compress="zstd")`` on
    hard links to --files files of ``fastevlog simulate`` output (10 MB each) against the zstandard
    package compressing the same files in plain loops at the same level, one thread, pinned to one CPU:
    read + ``ZstdCompressor(level=3).compress``, a 1 MiB ``compressobj`` loop, ``copy_stream``; each
    writes its NAME.log.zst. fastevlog writes a checksum in each frame, so the reference is
    ``copy_stream`` writing the same frames (``write_checksum=True``); the fastest of the default loops
    (no checksum) is shown with fastevlog's ratio to it too. Two more are shown, never references:
    compress() + fsync, and a loop with fastevlog's own stream settings. MB/s are of
    uncompressed input. The same for gzip at level 6 against zlib on the first --gzip-files (no
    target). Every file compressed is decompressed and compared with its original.
(c) the main job: ``fastevlog simulate`` (10M events by default) with ``--compress zstd`` and without,
    each in a fresh directory: wall time, what was left uncompressed when it exited (stop() does not
    wait for compressions), then ``fastevlog compress DIR`` timed finishing it; the compression ratio
    and the directory's disk use (st_blocks, as du counts) against the uncompressed run's.

    python benchmarks/compress.py [--parts a,b,c] [--calls 3000000] [--files 30] [--gzip-files 10]
                                  [--events 10000000] [--rounds 7] [--main-rounds 3] [--input-dir DIR]
                                  [--json PATH] [--quick]

--quick: tiny sizes, a few seconds (benchmarks/test_compress_bench.py runs it). Machines here are shared
and noisy: read the ratios of one run, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from importlib import metadata
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import fastevlog
from fastevlog import _core

MB = 1_000_000
MIB = 1024 * 1024
CHUNK = MIB
LOG_FILE = "async_buffered_logs"
ID, MESSAGE = "event_7", "Event event_7 occurred."
ZSTD_LEVEL, GZIP_LEVEL = 3, 6   # the defaults of compress="zstd" and "gzip"
SUFFIXES = {"zstd": ".zst", "gzip": ".gz"}
SYNCED_LOOP = "zstandard compress() + fsync"
FASTEVLOG_LOOP = "zstandard loop as fastevlog's stream"
# fastevlog writes a checksum in every zstd frame (a reader can tell a damaged file); the target compares it
# with zstandard writing the same frames, the default loops (no checksum) are shown beside it.
SAME_FRAMES = "zstandard copy_stream, checksummed"
NOT_REFERENCES = (SYNCED_LOOP, FASTEVLOG_LOOP, SAME_FRAMES)  # never "the fastest loop"
DRAIN_TIMEOUT = 300.0           # seconds the compressor may take to catch up between rounds

# The targets: (what, measured key, goal, "at most" / "at least").
TARGETS = (
    ("(a) log(), writers + compressor running, vs without", "a_ratio", 1.2, "at most"),
    ("(b) compressor MB/s vs plain zstandard, same frames", "b_zstd_ratio", 0.8, "at least"),
)

# `python -m fastevlog` puts the working directory first on sys.path: from the repository's root it would
# import the source tree, which has no compiled core (count.py's reason too).
NEUTRAL_CWD = "/"


def zstandard_module() -> Any:
    import zstandard
    return zstandard


# --------------------------------------------------------------------------- files

def log_files(directory: str, suffix: str = ".log") -> List[str]:
    """directory's log files of LOG_FILE ending in suffix, sorted (oldest first: the stamps sort)."""
    return sorted(os.path.join(directory, name) for name in os.listdir(directory)
                  if name.startswith(LOG_FILE + "_") and name.endswith(suffix))


def temporaries(directory: str) -> List[str]:
    return sorted(name for name in os.listdir(directory) if name.startswith(".") and name.endswith(".tmp"))


def disk_use(directory: str) -> Tuple[int, int]:
    """(bytes allocated on disk, as du counts them, and apparent bytes) of the files in directory."""
    allocated = apparent = 0
    for name in os.listdir(directory):
        stat = os.lstat(os.path.join(directory, name))
        allocated += stat.st_blocks * 512
        apparent += stat.st_size
    return allocated, apparent


def decompressed(path: str) -> bytes:
    with open(path, "rb") as file:
        data = file.read()
    if path.endswith(".zst"):
        # decompressobj: a frame without its content size in the header decompresses too
        return zstandard_module().ZstdDecompressor().decompressobj().decompress(data)
    if path.endswith(".gz"):
        return zlib.decompress(data, 16 + zlib.MAX_WBITS)
    return data


def lines_in(directory: str) -> Tuple[int, int, int]:
    """(lines, uncompressed bytes, compressed bytes) of every log file of directory, compressed or not."""
    lines = uncompressed = compressed = 0
    for suffix in (".log", ".log.zst", ".log.gz"):
        for path in log_files(directory, suffix):
            data = decompressed(path)
            lines += data.count(b"\n")
            uncompressed += len(data)
            if suffix != ".log":
                compressed += os.path.getsize(path)
    return lines, uncompressed, compressed


def warm(paths: Sequence[str]) -> None:
    for path in paths:
        with open(path, "rb") as file:
            while file.read(4 * MIB):
                pass


# --------------------------------------------------------------------------- per-thread CPU

def thread_cpu() -> Dict[str, float]:
    """CPU seconds of each live thread of this process so far, by thread name (numbers folded: writers)."""
    found: Dict[str, float] = {}
    for thread in threading.enumerate():
        if thread.ident is None:
            continue
        try:
            seconds = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except (OSError, AttributeError):  # ended meanwhile, or not Unix
            continue
        name = re.sub(r"-\d+$", "", thread.name) if thread.name.startswith("fastevlog-") else (
            "caller" if thread is threading.main_thread() else "other")
        found[name] = found.get(name, 0.0) + seconds
    return found


def cpu_since(before: Dict[str, float]) -> Dict[str, float]:
    now = thread_cpu()
    return {name: now[name] - before.get(name, 0.0) for name in now}


# --------------------------------------------------------------------------- how busy the machine was

def cpu_use() -> Optional[Tuple[float, float, float]]:
    """(seconds of CPU the machine spent, of which this process and its children, wall clock), or None.

    From /proc/stat (Linux): user, nice, system, irq and softirq time of all CPUs; a VM's steal time not.
    """
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6]
    own = os.times()
    return (busy / os.sysconf("SC_CLK_TCK"), own.user + own.system + own.children_user + own.children_system,
            time.monotonic())


def others_share(before: Optional[Tuple[float, float, float]],
                 after: Optional[Tuple[float, float, float]]) -> Optional[float]:
    """The share of all CPUs that other processes used between two cpu_use(): what disturbed the run."""
    if before is None or after is None or after[2] <= before[2]:
        return None
    others = (after[0] - before[0]) - (after[1] - before[1])
    return max(0.0, others) / ((after[2] - before[2]) * (os.cpu_count() or 1))


# --------------------------------------------------------------------------- (a) log() beside a compressor

def drain(logger: Any, directory: str, compress: Optional[str]) -> None:
    """Wait until the writers have written everything and the compressor has caught up (untimed)."""
    logger.flush()
    if compress is None:
        return
    deadline = time.monotonic() + DRAIN_TIMEOUT
    compressed = logger.metrics()["files_compressed"]
    # Done when only the file being written is left uncompressed, and no compression is under way.
    while len(log_files(directory)) > 1 or temporaries(directory):
        if time.monotonic() > deadline:
            idle = logger.metrics()["files_compressed"] == compressed
            stuck = "compressed nothing" if idle else "fell behind"
            raise SystemExit(f"(a) the compressor {stuck} in {DRAIN_TIMEOUT:g} s after the calls: "
                             f"{len(log_files(directory))} files left uncompressed in {directory}")
        time.sleep(0.02)


def check_and_clear(directory: str, expected_lines: int, what: str) -> int:
    """Check the files hold expected_lines lines; remove all but the file being written; the lines it holds.

    The file being written stays: removed, it would live on unnamed and take the next round's first lines.
    """
    lines, _, _ = lines_in(directory)
    if lines != expected_lines:
        raise SystemExit(f"LINE MISMATCH: {what}: the files hold {lines:,} lines, "
                         f"{expected_lines:,} were logged")
    written = log_files(directory)[-1:]  # the newest .log: every older one is closed (and compressed)
    for suffix in (".log", ".log.zst", ".log.gz"):
        for path in log_files(directory, suffix):
            if path not in written:
                os.unlink(path)
    return lines_in(directory)[0]


def part_a(args: argparse.Namespace, scratch: str) -> dict:
    calls = args.calls
    setups: Dict[str, Any] = {"without compression": None, "compress='zstd'": "zstd"}
    loggers: Dict[str, Any] = {}
    directories: Dict[str, str] = {}
    seconds: Dict[str, List[float]] = {"floor": []}
    compressed_timed: List[int] = []
    compressed_round: List[int] = []
    cpu: Dict[str, Dict[str, float]] = {}
    rotated: Dict[str, List[int]] = {}
    full_waits: Dict[str, List[int]] = {}
    carried: Dict[str, int] = {}  # lines in the file each logger is writing, from the rounds before
    noop = _core._noop

    def floor() -> None:
        for _ in range(calls):
            noop("INFO", ID, MESSAGE)

    try:
        for name, compress in setups.items():
            directories[name] = os.path.join(scratch, "a-" + (compress or "none"))
            # Room for a round's events as in hot_path.py (a line is ~112 bytes here), up to 512 MiB: the
            # writers run, so a ring this size does not fill; buffer_full_waits while timed says so.
            loggers[name] = fastevlog.EventLogCounter(
                directory=directories[name], level="INFO", flush_interval=3600,
                buffer_bytes=min(max(calls * 160, 64 * MIB), 512 * MIB), max_file_size=args.max_file_size,
                compress=compress)
            seconds[name], cpu[name], rotated[name], carried[name] = [], {}, [], 0
            full_waits[name] = []
        for round_ in range(args.rounds):
            order = list(setups) if round_ % 2 == 0 else list(reversed(setups))  # neither always goes first
            start = time.perf_counter()
            floor()
            seconds["floor"].append(time.perf_counter() - start)
            for name in order:
                logger, directory, compress = loggers[name], directories[name], setups[name]
                log = logger.log
                before = logger.metrics()
                threads_before = thread_cpu()
                start = time.perf_counter()
                for _ in range(calls):
                    log("INFO", ID, MESSAGE)
                seconds[name].append(time.perf_counter() - start)
                used = cpu_since(threads_before)
                after = logger.metrics()
                for thread, value in used.items():
                    cpu[name][thread] = cpu[name].get(thread, 0.0) + value
                rotated[name].append(after["files_written"] - before["files_written"])
                full_waits[name].append(after["buffer_full_waits"] - before["buffer_full_waits"])
                if compress:
                    compressed_timed.append(after["files_compressed"] - before["files_compressed"])
                drain(logger, directory, compress)
                if compress:
                    compressed_round.append(logger.metrics()["files_compressed"] - before["files_compressed"])
                what = f"(a) round {round_ + 1}/{args.rounds}  {name:<22}"
                carried[name] = check_and_clear(directory, carried[name] + calls, what)
                print(f"{what}{seconds[name][-1]:8.3f} s", file=sys.stderr)
        final = {name: logger.metrics() for name, logger in loggers.items()}
    finally:
        for logger in loggers.values():
            logger.stop()
    plain, zstd = "without compression", "compress='zstd'"
    failures = final[zstd]["compress_failures"]
    if failures:
        raise SystemExit(f"(a) the compressor failed {failures} times (see the log above)")
    if sum(compressed_round) == 0:
        raise SystemExit("(a) the compressor compressed nothing: the row would not measure it")
    ratios = sorted(z / p for z, p in zip(seconds[zstd], seconds[plain]))
    median = {name: statistics.median(values) for name, values in seconds.items()}
    return {
        "calls": calls, "rounds": args.rounds, "max_file_size": args.max_file_size,
        "seconds": seconds, "median_seconds": median,
        "ns_per_call": {name: value / calls * 1e9 for name, value in median.items()},
        "ratio": median[zstd] / median[plain], "round_ratios": ratios,
        "files_rotated_timed": rotated, "buffer_full_waits_timed": full_waits,
        "files_compressed_timed": compressed_timed,
        "files_compressed_per_round": compressed_round,
        "thread_cpu_seconds_per_round": {
            name: {thread: value / args.rounds for thread, value in sorted(used.items())}
            for name, used in cpu.items()},
    }


# --------------------------------------------------------------------------- (b) the compressor's throughput

def make_input(directory: str, files: int, file_size: int) -> List[str]:
    """files files of simulate output, each about file_size bytes, in directory (made, or reused)."""
    os.makedirs(directory, exist_ok=True)
    found = [path for path in log_files(directory) if os.path.getsize(path) >= file_size * 0.9]
    if len(found) < files:
        if os.listdir(directory):
            raise SystemExit(f"(b) {directory} holds {len(found)} files of about {file_size:,} bytes, not "
                             f"{files}: give an empty or new --input-dir")
        # ~120 bytes a line: enough events for one more file than asked, the last one partly full
        events = (files + 1) * file_size // 100
        print(f"(b) input: fastevlog simulate --events {events:,} --max-file-size {file_size:,} ...",
              file=sys.stderr)
        run_cli(["simulate", "--events", str(events), "--dir", directory, "--no-progress",
                 "--max-file-size", str(file_size)])
        found = [path for path in log_files(directory) if os.path.getsize(path) >= file_size * 0.9]
    if len(found) < files:
        raise SystemExit(f"(b) simulate made {len(found)} files of about {file_size:,} bytes, not {files}")
    return found[:files]


def fresh_links(sources: Sequence[str], directory: str) -> List[str]:
    """Hard links to sources under their names in a new directory: a fresh copy without writing a byte.

    Copies would leave hundreds of MB of dirty pages whose writeback would compete with the timed rounds.
    The compressor unlinks its name only; the inode stays the input's.
    """
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    linked = []
    for source in sources:
        target = os.path.join(directory, os.path.basename(source))
        os.link(source, target)
        linked.append(target)
    return linked


def plain_zstd_variants(level: int) -> Dict[str, Callable[[str, str], None]]:
    zstandard = zstandard_module()
    compressor = zstandard.ZstdCompressor(level=level)

    def one_shot(source: str, target: str) -> None:
        with open(source, "rb") as file:
            data = file.read()
        with open(target, "wb") as out:
            out.write(compressor.compress(data))

    def chunks(source: str, target: str) -> None:
        stream = compressor.compressobj(size=os.path.getsize(source))
        with open(source, "rb") as file, open(target, "wb") as out:
            for block in iter(lambda: file.read(CHUNK), b""):  # noqa: B023 (file is this call's)
                out.write(stream.compress(block))
            out.write(stream.flush())

    def copy_stream(source: str, target: str) -> None:
        with open(source, "rb") as file, open(target, "wb") as out:
            compressor.copy_stream(file, out, size=os.path.getsize(source), read_size=CHUNK, write_size=CHUNK)

    def one_shot_synced(source: str, target: str) -> None:
        # What making each file durable costs a loop: not a reference, the difference is shown beside it
        with open(source, "rb") as file:
            data = file.read()
        with open(target, "wb") as out:
            out.write(compressor.compress(data))
            out.flush()
            os.fsync(out.fileno())

    checked = zstandard.ZstdCompressor(level=level, write_checksum=True)

    def as_fastevlog(source: str, target: str) -> None:
        # fastevlog's stream in a plain loop (a checksum, pread, the first chunk flushed as a block, which
        # its crash tests need): what its compressor costs before the locking, fsyncs and renames
        fd = os.open(source, os.O_RDONLY)
        try:
            stream = checked.compressobj(size=os.fstat(fd).st_size)
            with open(target, "wb") as out:
                offset = 0
                for block in iter(lambda: os.pread(fd, CHUNK, offset), b""):  # noqa: B023 (offset moves)
                    offset += len(block)
                    out.write(stream.compress(block))
                    if offset == len(block) == CHUNK:
                        out.write(stream.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK))
                out.write(stream.flush())
        finally:
            os.close(fd)

    def copy_stream_checked(source: str, target: str) -> None:
        with open(source, "rb") as file, open(target, "wb") as out:
            checked.copy_stream(file, out, size=os.path.getsize(source), read_size=CHUNK, write_size=CHUNK)

    return {"zstandard read + compress()": one_shot, "zstandard 1 MiB compressobj loop": chunks,
            "zstandard copy_stream": copy_stream, SAME_FRAMES: copy_stream_checked,
            SYNCED_LOOP: one_shot_synced, FASTEVLOG_LOOP: as_fastevlog}


def plain_gzip_variants(level: int) -> Dict[str, Callable[[str, str], None]]:
    def one_shot(source: str, target: str) -> None:
        with open(source, "rb") as file:
            data = file.read()
        stream = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # a gzip member
        with open(target, "wb") as out:
            out.write(stream.compress(data) + stream.flush())

    def chunks(source: str, target: str) -> None:
        stream = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        with open(source, "rb") as file, open(target, "wb") as out:
            for block in iter(lambda: file.read(CHUNK), b""):  # noqa: B023 (file is this call's)
                out.write(stream.compress(block))
            out.write(stream.flush())

    return {"zlib read + compress": one_shot, "zlib 1 MiB compressobj loop": chunks}


def check_copies(sources: Sequence[str], directory: str, suffix: str, what: str) -> int:
    """Every source's NAME.log{suffix} in directory decompresses to it, no original is left; the bytes."""
    compressed = 0
    for source in sources:
        name = os.path.basename(source)
        target = os.path.join(directory, name + suffix)
        if os.path.exists(os.path.join(directory, name)):
            raise SystemExit(f"{what}: {name} is still there uncompressed")
        with open(source, "rb") as file:
            if decompressed(target) != file.read():
                raise SystemExit(f"CONTENT MISMATCH: {what}: {target} does not decompress to {source}")
        compressed += os.path.getsize(target)
    left = temporaries(directory)
    if left:
        raise SystemExit(f"{what}: temporaries left in {directory}: {left}")
    return compressed


class FsyncTimer:
    """Times every os.fsync while active: how much of a fastevlog round waits for the disk."""

    def __init__(self) -> None:
        self.seconds, self.calls = 0.0, 0
        self._fsync = os.fsync

    def __enter__(self) -> FsyncTimer:
        def timed(fd: Any) -> None:
            start = time.perf_counter()
            try:
                self._fsync(fd)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1

        os.fsync = timed
        return self

    def __exit__(self, *exc: object) -> None:
        os.fsync = self._fsync


def part_b(args: argparse.Namespace, scratch: str) -> dict:
    from fastevlog._housekeeper import housekeep

    input_dir = args.input_dir or os.path.join(scratch, "b-input")
    sources = make_input(input_dir, args.files, args.file_size)
    total = sum(os.path.getsize(path) for path in sources)
    warm(sources)
    work = os.path.join(scratch, "b-work")
    # gzip is ~6x slower: on fewer of the files (the first --gzip-files), compared per MB all the same
    kinds = {"zstd": (ZSTD_LEVEL, plain_zstd_variants(ZSTD_LEVEL), sources),
             "gzip": (GZIP_LEVEL, plain_gzip_variants(GZIP_LEVEL), sources[:args.gzip_files])}
    rows: Dict[str, dict] = {}
    for kind, (_, loops, _) in kinds.items():
        rows[f"fastevlog housekeep, {kind}"] = {"kind": kind, "seconds": [], "cpu": [], "fsync": [],
                                                "fastevlog": True}
        for name in loops:
            rows[name] = {"kind": kind, "seconds": [], "cpu": [], "fsync": [], "fastevlog": False}
    # Per core: every variant on one CPU (the one this process would use last), threads it starts too.
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {max(allowed)})
    try:
        for round_ in range(args.rounds):
            for kind, (level, loops, files) in kinds.items():
                variants: List[Tuple[str, Callable[[], None]]] = []
                label = f"fastevlog housekeep, {kind}"

                def ours(kind: str = kind, level: int = level, files: List[str] = files) -> None:
                    report = housekeep(work, LOG_FILE, compress=kind, compress_level=level)
                    if report.files_compressed != len(files) or report.compress_failures:
                        raise SystemExit(f"(b) housekeep compressed {report.files_compressed} of "
                                         f"{len(files)} files, {report.compress_failures} failures")

                variants.append((label, ours))
                for name, loop in loops.items():
                    def plain(loop: Callable[[str, str], None] = loop, suffix: str = SUFFIXES[kind],
                              files: List[str] = files) -> None:
                        for source in files:
                            loop(source, os.path.join(work, os.path.basename(source) + suffix))
                    variants.append((name, plain))
                if round_ % 2:
                    variants.reverse()
                for name, run in variants:
                    if rows[name]["fastevlog"]:
                        fresh_links(files, work)
                    else:
                        shutil.rmtree(work, ignore_errors=True)
                        os.makedirs(work)
                    with FsyncTimer() as fsyncs:
                        cpu_start, start = time.process_time(), time.perf_counter()
                        run()
                        rows[name]["seconds"].append(time.perf_counter() - start)
                        rows[name]["cpu"].append(time.process_time() - cpu_start)
                    rows[name]["fsync"].append(fsyncs.seconds)
                    rows[name]["fsyncs"] = fsyncs.calls
                    rows[name]["compressed_bytes"] = check_copies(files, work, SUFFIXES[kind],
                                                                  f"(b) {name}, round {round_ + 1}")
                    print(f"(b) round {round_ + 1}/{args.rounds}  {name:<34}"
                          f"{rows[name]['seconds'][-1]:8.3f} s", file=sys.stderr)
    finally:
        os.sched_setaffinity(0, allowed)
        shutil.rmtree(work, ignore_errors=True)
    for row in rows.values():
        row["files"] = len(kinds[row["kind"]][2])
        row["bytes"] = sum(os.path.getsize(path) for path in kinds[row["kind"]][2])
        row["median_seconds"] = statistics.median(row["seconds"])
        row["median_cpu"] = statistics.median(row["cpu"])
        row["median_fsync"] = statistics.median(row["fsync"])
        row["mb_per_s"] = row["bytes"] / MB / row["median_seconds"]
    result: Dict[str, Any] = {"files": len(sources), "bytes": total, "input_dir": input_dir, "rows": rows}
    for kind in kinds:
        housekept = rows[f"fastevlog housekeep, {kind}"]
        plain_loops = [name for name, row in rows.items()
                       if row["kind"] == kind and not row["fastevlog"] and name not in NOT_REFERENCES]
        fastest = min(plain_loops, key=lambda name: rows[name]["median_seconds"])
        reference = SAME_FRAMES if SAME_FRAMES in rows and kind == "zstd" else fastest
        result[f"{kind}_fastest"] = fastest
        result[f"{kind}_fastest_ratio"] = rows[fastest]["median_seconds"] / housekept["median_seconds"]
        result[f"{kind}_reference"] = reference
        result[f"{kind}_ratio"] = rows[reference]["median_seconds"] / housekept["median_seconds"]  # of MB/s
        by_round = [rows[reference]["seconds"][i] / housekept["seconds"][i] for i in range(args.rounds)]
        result[f"{kind}_round_ratios"] = sorted(by_round)
        # Per core in CPU time: what the ratio would be on a disk whose fsync cost nothing
        result[f"{kind}_cpu_ratio"] = rows[reference]["median_cpu"] / housekept["median_cpu"]
    return result


# --------------------------------------------------------------------------- (c) the main job

def run_cli(arguments: List[str]) -> Tuple[float, str]:
    """(wall seconds, stdout) of ``python -m fastevlog ARGUMENTS``, run from NEUTRAL_CWD; stops on failure."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "fastevlog", *arguments], capture_output=True, text=True,
                            cwd=NEUTRAL_CWD)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"fastevlog {' '.join(arguments)} exited with {result.returncode}:\n"
                         f"{result.stdout}{result.stderr}")
    return wall, result.stdout


def printed(pattern: str, stdout: str, default: Optional[str] = None) -> str:
    found = re.search(pattern, stdout, re.M)
    if found is None:
        if default is not None:
            return default
        raise SystemExit(f"no {pattern!r} in what fastevlog printed:\n{stdout}")
    return found.group(1)


def main_job_round(args: argparse.Namespace, directory: str, compress: Optional[str]) -> dict:
    shutil.rmtree(directory, ignore_errors=True)
    extra = ["--compress", compress] if compress else []
    wall, stdout = run_cli(["simulate", "--events", str(args.events), "--dir", directory, "--no-progress",
                            "--max-file-size", str(args.main_file_size), *extra])
    row: Dict[str, Any] = {
        "process_seconds": wall,
        "seconds": float(printed(r"^wall time\s+([\d.]+) s", stdout)),
        "bytes_written": int(printed(r"^bytes\s+([\d,]+)", stdout).replace(",", "")),
        "files_written": int(printed(r"^files\s+(\d+)", stdout)),
        "cpu": printed(r"^cpu\s+(.*)$", stdout),
    }
    row["left_uncompressed"] = len(log_files(directory))
    row["compressed_at_exit"] = len(log_files(directory, SUFFIXES["zstd"]))
    row["temporaries_at_exit"] = len(temporaries(directory))
    row["disk_at_exit"], row["apparent_at_exit"] = disk_use(directory)
    if compress:
        wall, stdout = run_cli(["compress", directory, "--compress", compress])
        row["compress_command_seconds"] = wall
        row["compress_command_said"] = stdout.strip()
        left = log_files(directory)
        if left or temporaries(directory):
            raise SystemExit(f"(c) fastevlog compress left {len(left)} files uncompressed in {directory}")
    lines, uncompressed, compressed = lines_in(directory)
    if lines != args.events or uncompressed != row["bytes_written"]:
        raise SystemExit(f"LINE MISMATCH: (c) {compress or 'no compression'}: the files hold {lines:,} "
                         f"lines, {uncompressed:,} bytes; {args.events:,} events, {row['bytes_written']:,} "
                         "bytes written")
    row["uncompressed_bytes"], row["compressed_bytes"] = uncompressed, compressed
    row["disk_at_end"], row["apparent_at_end"] = disk_use(directory)
    row["files_at_end"] = len(os.listdir(directory))
    shutil.rmtree(directory, ignore_errors=True)
    return row


def part_c(args: argparse.Namespace, scratch: str) -> dict:
    setups = {"without compression": None, "--compress zstd": "zstd"}
    rows: Dict[str, List[dict]] = {name: [] for name in setups}
    for round_ in range(args.main_rounds):
        order = list(setups) if round_ % 2 == 0 else list(reversed(setups))
        for name in order:
            rows[name].append(main_job_round(args, os.path.join(scratch, "c-" + (setups[name] or "none")),
                                             setups[name]))
            print(f"(c) round {round_ + 1}/{args.main_rounds}  {name:<22}{rows[name][-1]['seconds']:8.2f} s",
                  file=sys.stderr)
    plain, zstd = rows["without compression"], rows["--compress zstd"]

    def median(runs: List[dict], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    ratios = sorted(z["seconds"] / p["seconds"] for z, p in zip(zstd, plain))
    return {
        "events": args.events, "rounds": args.main_rounds,
        "max_file_size": args.main_file_size, "runs": rows,
        "seconds": {name: median(runs, "seconds") for name, runs in rows.items()},
        "process_seconds": {name: median(runs, "process_seconds") for name, runs in rows.items()},
        "ratio": median(zstd, "seconds") / median(plain, "seconds"), "round_ratios": ratios,
        "process_ratio": median(zstd, "process_seconds") / median(plain, "process_seconds"),
        "compression_ratio": zstd[-1]["uncompressed_bytes"] / zstd[-1]["compressed_bytes"],
        "uncompressed_bytes": plain[-1]["uncompressed_bytes"],
        "disk_uncompressed": median(plain, "disk_at_end"),
        "disk_at_exit": median(zstd, "disk_at_exit"), "disk_at_end": median(zstd, "disk_at_end"),
        "files_written": zstd[-1]["files_written"],
        "left_uncompressed": [run["left_uncompressed"] for run in zstd],
        "compressed_at_exit": [run["compressed_at_exit"] for run in zstd],
        "compress_command_seconds": median(zstd, "compress_command_seconds"),
        "compress_command_said": zstd[-1]["compress_command_said"],
    }


# --------------------------------------------------------------------------- the report

def targets(figures: dict) -> List[dict]:
    measured = {}
    if "a" in figures:
        measured["a_ratio"] = figures["a"]["ratio"]
    if "b" in figures:
        measured["b_zstd_ratio"] = figures["b"]["zstd_ratio"]
    found = []
    for what, key, goal, kind in TARGETS:
        if key not in measured:
            continue
        value = measured[key]
        met = value <= goal if kind == "at most" else value >= goal
        found.append({"what": what, "measured": value, "goal": goal, "kind": kind, "met": met})
    return found


def report(figures: dict) -> str:
    load = figures["load"]
    out = [f"machine  {platform.machine()}, CPython {platform.python_version()}, {os.cpu_count()} cores; "
           f"load {load[0]:.2f} at the start, {load[1]:.2f} at the end (1-minute average)",
           "versions " + ", ".join(f"{name} {version}" for name, version in figures["versions"].items())]
    if "a" in figures:
        out += ["", *report_a(figures["a"])]
    if "b" in figures:
        out += ["", *report_b(figures["b"], figures["rounds"])]
    if "c" in figures:
        out += ["", *report_c(figures["c"])]
    found = targets(figures)
    if found:
        out += ["", f"{'targets (issue 14)':<54}{'measured':>9}  goal"]
        for target in found:
            sign = "<=" if target["kind"] == "at most" else ">="
            out.append(f"{target['what']:<54}{target['measured']:>8.3f}x  {sign} {target['goal']:g}x  "
                       + ("met" if target["met"] else "NOT MET"))
    return "\n".join(out)


def others(part: dict) -> str:
    share = part.get("others_cpu_share")
    return "" if share is None else f"; other processes {share:.0%} of the CPUs meanwhile"


def report_a(a: dict) -> List[str]:
    plain, zstd = "without compression", "compress='zstd'"
    ns, seconds, rotated = a["ns_per_call"], a["median_seconds"], a["files_rotated_timed"]
    out = [f"(a) log() with the writers running, {a['calls']:,} calls a round, median of {a['rounds']} "
           f"interleaved rounds; files of {a['max_file_size'] / MIB:g} MiB" + others(a),
           f"{'variant':<24}{'ns/call':>9}{'x floor':>9}{'x without':>11}  rounds' range"
           "  while timed: files closed, compressed"]
    out.append(f"{'floor':<24}{ns['floor']:>9.1f}{1.0:>9.2f}")
    out.append(f"{plain:<24}{ns[plain]:>9.1f}{seconds[plain] / seconds['floor']:>9.2f}{1.0:>11.2f}"
               f"{'':>15}{statistics.median(rotated[plain]):>21g}")
    low, high = a["round_ratios"][0], a["round_ratios"][-1]
    out.append(f"{zstd:<24}{ns[zstd]:>9.1f}{seconds[zstd] / seconds['floor']:>9.2f}{a['ratio']:>11.2f}"
               f"  {low:.2f}-{high:.2f}{statistics.median(rotated[zstd]):>21g}, "
               f"{statistics.median(a['files_compressed_timed']):g}")
    out.append("CPU s a round while timed, by thread:")
    for name, used in a["thread_cpu_seconds_per_round"].items():
        out.append(f"  {name:<22}" + ", ".join(f"{thread} {value:.3f}" for thread, value in used.items()
                                               if value >= 0.0005))
    out.append("buffer full waits while timed (all rounds): " + ", ".join(
        f"{name} {sum(waits)}" for name, waits in a["buffer_full_waits_timed"].items()))
    out.append("files compressed a round (timed, and catching up after it): "
               f"{', '.join(map(str, a['files_compressed_per_round']))}; every round's lines checked")
    return out


def report_b(b: dict, rounds: int) -> List[str]:
    gzip = next(row for row in b["rows"].values() if row["kind"] == "gzip")
    out = [f"(b) compressing {b['files']} files, {b['bytes'] / MB:,.1f} MB of simulate output (gzip: the "
           f"first {gzip['files']}, {gzip['bytes'] / MB:,.1f} MB), one CPU,",
           f"median of {rounds} interleaved rounds; MB/s of uncompressed input" + others(b),
           f"{'variant':<34}{'seconds':>8}{'MB/s':>7}{'CPU s':>7}{'fsync s':>8}{'ratio':>7}{'x loop':>8}"
           "  rounds' range"]
    for kind in ("zstd", "gzip"):
        reference = b["rows"][b[f"{kind}_reference"]]
        for name, row in b["rows"].items():
            if row["kind"] != kind:
                continue
            speed = reference["median_seconds"] / row["median_seconds"]
            line = (f"{name:<34}{row['median_seconds']:>8.2f}{row['mb_per_s']:>7,.0f}"
                    f"{row['median_cpu']:>7.2f}{row['median_fsync']:>8.2f}"
                    f"{row['bytes'] / row['compressed_bytes']:>6.0f}x{speed:>8.2f}")
            if row["fastevlog"]:
                ratios = b[f"{kind}_round_ratios"]
                line += f"  {ratios[0]:.2f}-{ratios[-1]:.2f}; in CPU s {b[kind + '_cpu_ratio']:.2f}"
            elif name == b[f"{kind}_reference"] == b.get(f"{kind}_fastest", name):
                line += "  the fastest loop: the reference"
            elif name == b[f"{kind}_reference"]:
                line += "  the same frames as fastevlog's: the reference"
            elif name == b.get(f"{kind}_fastest"):
                line += (f"  the fastest loop (no checksum): fastevlog "
                         f"{b[kind + '_fastest_ratio']:.2f}x of it")
            out.append(line)
    out.append("fastevlog, each file: locked, checked closed, compressed in 1 MiB chunks with a checksum, "
               "fsynced, renamed; then the")
    out.append("directory fsynced once for up to 16 files and their originals removed; the loops write each "
               f"file (no fsync but in the '{SYNCED_LOOP}' row);")
    out.append(f"'{FASTEVLOG_LOOP}': a 1 MiB loop with fastevlog's checksum, pread and first-chunk flush")
    return out


def report_c(c: dict) -> List[str]:
    plain, zstd = "without compression", "--compress zstd"
    out = [f"(c) fastevlog simulate --events {c['events']:,} (files of {c['max_file_size'] / MIB:g} MiB), "
           f"median of {c['rounds']} interleaved rounds, each in a fresh directory" + others(c),
           f"{'run':<24}{'wall s':>8}{'x without':>10}{'process s':>11}  rounds' range"]
    for name in (plain, zstd):
        line = (f"{name:<24}{c['seconds'][name]:>8.2f}{c['seconds'][name] / c['seconds'][plain]:>10.2f}"
                f"{c['process_seconds'][name]:>11.2f}")
        if name == zstd:
            line += f"  {c['round_ratios'][0]:.2f}-{c['round_ratios'][-1]:.2f}"
        out.append(line)
    said = c["compress_command_said"].splitlines()
    uncompressed, disk = c["uncompressed_bytes"], c["disk_uncompressed"]
    out += [
        f"at exit      {', '.join(map(str, c['compressed_at_exit']))} of {c['files_written']} files "
        "compressed, "
        f"{', '.join(map(str, c['left_uncompressed']))} left uncompressed (stop() does not wait)",
        f"finishing    fastevlog compress DIR: {c['compress_command_seconds']:.2f} s, the whole process"
        + (f": {said[-1]}" if said else ""),
        f"compression  {c['compression_ratio']:.1f}x: {uncompressed / MB:,.1f} MB of lines in "
        f"{uncompressed / c['compression_ratio'] / MB:,.1f} MB",
        f"disk use     {disk / MB:,.1f} MB uncompressed; with zstd {c['disk_at_exit'] / MB:,.1f} MB at exit "
        f"({c['disk_at_exit'] / disk:.1%}), {c['disk_at_end'] / MB:,.1f} MB after fastevlog compress "
        f"({c['disk_at_end'] / disk:.2%})",
    ]
    return out


def version_of(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="a,b,c", help="which parts to run (default a,b,c)")
    parser.add_argument("--calls", type=int, default=3_000_000,
                        help="(a) calls a round (default %(default)s)")
    parser.add_argument("--max-file-size", type=int, default=4 * MIB,
                        help="(a) the loggers' rotation size (default 4 MiB)")
    parser.add_argument("--rounds", type=int, default=7, help="(a) and (b) rounds (default %(default)s)")
    parser.add_argument("--files", type=int, default=30, help="(b) files compressed (default %(default)s)")
    parser.add_argument("--file-size", type=int, default=10 * MIB, help="(b) their size (default 10 MiB)")
    parser.add_argument("--gzip-files", type=int, default=10,
                        help="(b) of which gzip compresses the first N (default %(default)s)")
    parser.add_argument("--input-dir", help="(b) keep (or reuse) simulate's files here")
    parser.add_argument("--events", type=int, default=10_000_000, help="(c) events (default %(default)s)")
    parser.add_argument("--main-file-size", type=int, default=10 * MIB,
                        help="(c) simulate's --max-file-size (default 10 MiB, simulate's own)")
    parser.add_argument("--main-rounds", type=int, default=3, help="(c) rounds (default %(default)s)")
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a check that everything runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.max_file_size, args.rounds = 50_000, 256 * 1024, 2
        args.files, args.file_size, args.gzip_files = 3, 512 * 1024, 2
        args.events, args.main_file_size, args.main_rounds = 100_000, 1 * MIB, 1
    for name in ("calls", "max_file_size", "rounds", "files", "file_size", "gzip_files", "events",
                 "main_file_size", "main_rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    args.parts = set(args.parts.split(","))
    if not args.parts <= {"a", "b", "c"}:
        parser.error(f"--parts takes a, b and c separated by commas, not {','.join(sorted(args.parts))}")
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    figures: Dict[str, Any] = {
        "command": "python benchmarks/compress.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"arch": platform.machine(), "python": platform.python_version(), "cores": os.cpu_count(),
                    "platform": platform.platform()},
        "versions": {name: version_of(name) for name in ("fastevlog", "zstandard")},
        "rounds": args.rounds,
    }
    load_start = os.getloadavg()[0]
    scratch = tempfile.mkdtemp(prefix="fastevlog-compress-")
    try:
        for name, part in (("a", part_a), ("b", part_b), ("c", part_c)):
            if name in args.parts:
                before = cpu_use()
                figures[name] = part(args, scratch)
                figures[name]["others_cpu_share"] = others_share(before, cpu_use())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    figures["load"] = [load_start, os.getloadavg()[0]]
    figures["targets"] = targets(figures)
    print(report(figures))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=1)
            out.write("\n")
    return figures


if __name__ == "__main__":
    main()
