"""fastevlog against other ways of logging the seed's workload, side by side in one run.

The workload is the seed's (and `fastevlog simulate`'s): N events from T threads,
event i has id event_{i % 1000}, level INFO for even i and ERROR for odd i,
message "Event {id} occurred.".  Every peer runs the same producer loop in its own
subprocess, with its files in a fresh temporary directory; the wall time runs from
before the threads start to the end of the peer's shutdown (every line on disk).
Afterwards the files are checked: exactly N lines, each a JSON object (every line
parsed for N <= 1M, a sample plus a structural check of every line above).

    python benchmarks/compare.py [--events N] [--threads T] [--timeout S] [--hang-after S]
                                 [--out results.json] [--chart chart.png] [--only name,...]

A peer that is not installed is skipped; one stuck for --hang-after seconds (no CPU
used, or no byte added to its files) is killed and reported as hung, one still busy at
--timeout is killed and reported as too slow; one whose output is wrong is reported as such.  Machines here
are shared and noisy: read the ratios, not the seconds.

The fastevlog used is the one `import fastevlog` finds, else the in-place build of
this checkout (the path is printed and saved).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from importlib import metadata

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
DISTINCT_IDS = 1000
MIB = 1024 * 1024
ROTATE_BYTES = 10 * MIB
FULL_CHECK_MAX = 1_000_000        # up to this many events every line is parsed
CHUNK = 16 * MIB


# --------------------------------------------------------------------------- the workload

def produce(log, first: int, events: int, step: int) -> None:
    """fastevlog.cli._produce, copied so that every peer runs exactly this loop."""
    ids = [f"event_{k}" for k in range(DISTINCT_IDS)]
    messages = [f"Event {event_id} occurred." for event_id in ids]
    levels = ("INFO", "ERROR")
    for i in range(first, events, step):
        k = i % DISTINCT_IDS
        log(levels[i & 1], ids[k], messages[k])


# --------------------------------------------------------------------------- the peers
# Each takes the log directory and returns (log(level, event_id, message), finish(), version).
# finish() returns once every line is in its file and the logger is shut down.

def _import_fastevlog():
    try:
        import fastevlog
    except ImportError:                       # not installed: the in-place build of this checkout
        sys.path.insert(0, REPO_ROOT)
        import fastevlog
    return fastevlog


def peer_noop(directory):
    fastevlog = _import_fastevlog()
    return fastevlog._core._noop, lambda: None, fastevlog.__version__


def peer_fastevlog(directory):
    fastevlog = _import_fastevlog()
    logger = fastevlog.EventLogCounter(directory=directory)
    return logger.log, logger.stop, fastevlog.__version__


def peer_seed_python(directory):
    sys.path.insert(0, HERE)
    from seed_reference import SeedEventLogCounter
    logger = SeedEventLogCounter(directory=directory)
    return logger.log, logger.stop, "benchmarks/seed_reference.py"


def peer_stdlib_logging(directory):
    import logging
    import logging.handlers
    import queue

    try:
        from pythonjsonlogger.json import JsonFormatter
    except ImportError:                       # python-json-logger < 3
        from pythonjsonlogger.jsonlogger import JsonFormatter
    records = queue.Queue(-1)
    file_handler = logging.handlers.RotatingFileHandler(
        os.path.join(directory, "stdlib.log"), maxBytes=ROTATE_BYTES, backupCount=1000, encoding="utf-8")
    file_handler.setFormatter(JsonFormatter("%(asctime)s %(message)s"))
    listener = logging.handlers.QueueListener(records, file_handler)
    logger = logging.getLogger("bench")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(logging.handlers.QueueHandler(records))
    listener.start()
    levelno = {"INFO": logging.INFO, "ERROR": logging.ERROR}
    emit = logger.log

    def log(level, event_id, message):
        emit(levelno[level], message, extra={"level": level, "event_id": event_id})

    def finish():
        listener.stop()
        file_handler.close()

    return log, finish, f"python-json-logger {metadata.version('python-json-logger')}"


def peer_structlog(directory):
    import logging

    import orjson
    import structlog

    file = open(os.path.join(directory, "structlog.log"), "wb")  # noqa: SIM115 (closed by finish)
    structlog.configure(      # the docs' "Performance" configuration; BytesLogger locks per file
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.BytesLoggerFactory(file=file),
        cache_logger_on_first_use=True,
    )
    logger = structlog.get_logger()
    methods = {"INFO": logger.info, "ERROR": logger.error}

    def log(level, event_id, message):
        methods[level](message, event_id=event_id)

    return log, file.close, f"structlog {structlog.__version__}, orjson {orjson.__version__}"


def peer_loguru(directory):
    from loguru import logger

    logger.remove()
    logger.add(os.path.join(directory, "loguru.log"), serialize=True, enqueue=True, rotation="10 MB")
    emit = logger.log

    def log(level, event_id, message):
        emit(level, message, event_id=event_id)

    def finish():
        logger.complete()
        logger.remove()

    return log, finish, f"loguru {metadata.version('loguru')}"


def peer_structlog_fastevlog(directory):
    import logging

    import structlog

    fastevlog = _import_fastevlog()
    events = fastevlog.EventLogCounter(directory=directory)
    structlog.configure(      # as the structlog peer, but the level, timestamp and JSON are fastevlog's
        processors=[structlog.contextvars.merge_contextvars],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=fastevlog.structlog_factory(events),
        cache_logger_on_first_use=True,
    )
    logger = structlog.get_logger()
    methods = {"INFO": logger.info, "ERROR": logger.error}

    def log(level, event_id, message):
        methods[level](message, event_id=event_id)

    return log, events.stop, f"structlog {structlog.__version__}, fastevlog {fastevlog.__version__}"


def peer_loguru_fastevlog(directory):
    from loguru import logger

    fastevlog = _import_fastevlog()
    events = fastevlog.EventLogCounter(directory=directory)
    logger.remove()
    # No enqueue: the sink only encodes the record into fastevlog's buffer; fastevlog's threads write.
    # format="{message}": loguru formats a text for every sink, which this sink does not read.
    logger.add(fastevlog.loguru_sink(events), format="{message}")
    emit = logger.log

    def log(level, event_id, message):
        emit(level, message, event_id=event_id)

    def finish():
        logger.remove()
        events.stop()

    return log, finish, f"loguru {metadata.version('loguru')}, fastevlog {fastevlog.__version__}"


def peer_orjson_handrolled(directory):
    import orjson

    file = open(os.path.join(directory, "orjson.log"), "ab", buffering=1 << 20)  # noqa: SIM115
    lock = threading.Lock()
    dumps, now, utc, newline = orjson.dumps, _dt.datetime.now, _dt.timezone.utc, orjson.OPT_APPEND_NEWLINE
    write = file.write

    def log(level, event_id, message):
        line = dumps({"timestamp": now(utc), "level": level, "event_id": event_id, "message": message},
                     option=newline)
        with lock:
            write(line)

    return log, file.close, f"orjson {orjson.__version__}"


def peer_picologging(directory):
    import queue

    import picologging
    import picologging.handlers

    # picologging has no extra= (the fields are dropped) and no JSON formatter: the JSON is
    # built from the format string and the message's %-args (fine for these ASCII ids).
    records = queue.Queue(-1)
    file_handler = picologging.handlers.RotatingFileHandler(
        os.path.join(directory, "picologging.log"), maxBytes=ROTATE_BYTES, backupCount=1000)
    file_handler.setFormatter(picologging.Formatter(
        '{"timestamp":%(created)f,"level":"%(levelname)s",%(message)s}'))
    listener = picologging.handlers.QueueListener(records, file_handler)
    logger = picologging.getLogger("bench")
    logger.setLevel(picologging.INFO)
    logger.addHandler(picologging.handlers.QueueHandler(records))
    listener.start()
    levelno = {"INFO": picologging.INFO, "ERROR": picologging.ERROR}
    emit = logger.log

    def log(level, event_id, message):
        emit(levelno[level], '"event_id":"%s","message":"%s"', event_id, message)

    def finish():
        listener.stop()
        file_handler.close()

    return log, finish, f"picologging {picologging.__version__}"


PEERS = {
    "noop": (peer_noop, "the producer loop calling fastevlog._core._noop: the floor, writes nothing"),
    "fastevlog": (peer_fastevlog, "EventLogCounter(directory=D), defaults; log() then stop()"),
    "seed-python": (peer_seed_python, "benchmarks/seed_reference.py: list + Lock + Counter, flush thread, "
                                      "ThreadPoolExecutor(4) json.dumps, 10 MiB rotation"),
    "stdlib-logging": (peer_stdlib_logging, "logging QueueHandler -> QueueListener -> RotatingFileHandler "
                                            "(10 MiB, backupCount=1000), python-json-logger JsonFormatter, "
                                            "level and event_id via extra="),
    "structlog": (peer_structlog, "JSONRenderer(serializer=orjson.dumps), BytesLoggerFactory(file), "
                                  "make_filtering_bound_logger, cache_logger_on_first_use; one file, "
                                  "a write+flush per line, no rotation"),
    "loguru": (peer_loguru, 'logger.add(path, serialize=True, enqueue=True, rotation="10 MB"); '
                            "complete() and remove() at the end"),
    "structlog-fastevlog": (peer_structlog_fastevlog,
                            "the structlog peer's calls and filtering logger; fastevlog.structlog_factory("
                            "EventLogCounter(directory=D)) instead of its renderer and file; "
                            "stop() at the end"),
    "loguru-fastevlog": (peer_loguru_fastevlog,
                         "logger.add(fastevlog.loguru_sink(EventLogCounter(directory=D)), "
                         'format="{message}"), no enqueue; remove() and stop() at the end'),
    "orjson-handrolled": (peer_orjson_handrolled, "orjson.dumps(dict with datetime) under a Lock into "
                                                  "open(path, 'ab', buffering=1 MiB); one file, no rotation"),
    "picologging": (peer_picologging, "picologging QueueHandler -> QueueListener -> RotatingFileHandler "
                                      "(10 MiB), JSON from the format string (no extra= support)"),
}


def run_peer(name: str, events: int, threads: int, directory: str) -> dict:
    """In the child: set the peer up, time the workload, report one JSON line on stdout."""
    import faulthandler

    faulthandler.register(signal.SIGUSR1, all_threads=True)   # the parent asks for stacks before a kill
    try:
        log, finish, version = PEERS[name][0](directory)
    except ImportError as error:
        return {"skipped": f"not installed ({error})"}
    workers = [threading.Thread(target=produce, args=(log, t, events, threads)) for t in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    finish()
    wall = time.perf_counter() - start
    result = {"wall_s": wall, "peak_rss_kib": peak_rss_kib(), "version": version}
    if name in ("noop", "fastevlog"):
        result["fastevlog_path"] = os.path.dirname(sys.modules["fastevlog"].__file__)
    return result


# --------------------------------------------------------------------------- checking the output

MESSAGE = re.compile(rb"Event event_(\d+) occurred\.")


def expected_ids(events: int) -> Counter:
    full, rest = divmod(events, DISTINCT_IDS)
    return Counter({k: full + (1 if k < rest else 0) for k in range(DISTINCT_IDS)})


def check_output(directory: str, events: int, expect_files: bool) -> dict:
    """Lines in every file under directory; None as "problem" when they are the N expected."""
    paths = sorted(os.path.join(root, name) for root, _, names in os.walk(directory) for name in names)
    out = {"files": len(paths), "bytes": sum(os.path.getsize(p) for p in paths), "lines": 0, "problem": None}
    if not expect_files:
        if paths:
            out["problem"] = f"{len(paths)} files written, none expected"
        return out
    full = events <= FULL_CHECK_MAX
    seen_ids: Counter = Counter()
    parsed = 0
    for path in paths:
        rest = b""
        with open(path, "rb") as file:
            while True:
                chunk = file.read(CHUNK)
                data = rest + chunk
                if not chunk:
                    if data:
                        out["problem"] = f"{os.path.basename(path)} does not end with a newline"
                        return out
                    break
                cut = data.rfind(b"\n") + 1
                data, rest = data[:cut], data[cut:]
                if not data:
                    continue
                lines = data[:-1].split(b"\n")
                out["lines"] += len(lines)
                if not all(line[:1] == b"{" and line[-1:] == b"}" for line in lines):
                    out["problem"] = f"{os.path.basename(path)}: a line that is not a JSON object"
                    return out
                sample = lines if full else lines[::max(1, len(lines) // 256)] + lines[-1:]
                for line in sample:
                    try:
                        if not isinstance(json.loads(line), dict):
                            raise ValueError("not an object")
                    except ValueError as error:
                        out["problem"] = f"{os.path.basename(path)}: invalid JSON ({error}): {line[:120]!r}"
                        return out
                    match = MESSAGE.search(line)
                    if match is None:
                        out["problem"] = f"{os.path.basename(path)}: line without the message: {line[:120]!r}"
                        return out
                    if full:
                        seen_ids[int(match.group(1))] += 1
                parsed += len(sample)
    out["lines_parsed"] = parsed
    if out["lines"] != events:
        out["problem"] = f"{out['lines']:,} lines, expected {events:,}"
    elif full and seen_ids != expected_ids(events):
        out["problem"] = "the lines are not each event exactly once (event id counts differ)"
    return out


# --------------------------------------------------------------------------- the parent

def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


POLL_S = 2.0


def peak_rss_kib() -> int:
    """This process's peak RSS.  VmHWM where Linux has it: ru_maxrss keeps the peak of the
    process that forked us from before our exec, so every peer would show at least ours."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return -1


def output_bytes(directory: str) -> int:
    total = 0
    for root, _, names in os.walk(directory):
        for name in names:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:                              # rotated away meanwhile
                pass
    return total


def wait_for(child: subprocess.Popen, timeout: float, hang_after: float, directory):
    """(stdout, stderr, None) once the child exits, or (..., verdict) after killing it.

    Killed at `timeout` seconds, or as soon as it is stuck for `hang_after` seconds (no
    need to wait for the timeout): it used no CPU (a deadlock), or, when `directory` is
    given, neither its files nor its memory grew or shrank (a livelock: busy, but no
    event gets anywhere; a peer that buffers while its writers lag behind grows its
    memory).  Before the kill, SIGUSR1 makes the child's faulthandler print every
    thread's stack on stderr.
    """
    start = time.monotonic()
    last_cpu, last_busy = cpu_seconds(child.pid), start
    last_size, last_rss, last_growth = -1, -1, start
    while True:
        now = time.monotonic()
        try:
            stdout, stderr = child.communicate(timeout=max(0.01, min(POLL_S, start + timeout - now)))
            return stdout, stderr, None
        except subprocess.TimeoutExpired:
            pass
        now, cpu = time.monotonic(), cpu_seconds(child.pid)
        if not cpu <= last_cpu + 0.05 * POLL_S:            # busy, or unknown (nan): not idle
            last_cpu, last_busy = cpu, now
        if directory is not None:
            size, rss = output_bytes(directory), rss_bytes(child.pid)
            if size != last_size or abs(rss - last_rss) > MIB:
                last_size, last_rss, last_growth = size, rss, now
        idle, stalled = now - last_busy, (now - last_growth if directory is not None else 0.0)
        if (hang_after and max(idle, stalled) >= hang_after) or now - start >= timeout:
            break
    os.kill(child.pid, signal.SIGUSR1)
    time.sleep(1.0)
    os.killpg(child.pid, signal.SIGKILL)                 # the child's own process group (new session)
    stdout, stderr = child.communicate()
    elapsed = time.monotonic() - start
    threshold = hang_after or 2 * POLL_S
    if idle >= threshold:
        verdict = f"hung (killed after {elapsed:.0f} s; deadlock: no CPU used for {idle:.0f} s)"
    elif stalled >= threshold:
        verdict = (f"hung (killed after {elapsed:.0f} s; livelock: CPU busy, "
                   f"no output nor memory change for {stalled:.0f} s)")
    else:
        verdict = f"too slow (killed after {elapsed:.0f} s, still busy)"
    return stdout, stderr, verdict


def run_one(name: str, args: argparse.Namespace) -> dict:
    directory = tempfile.mkdtemp(prefix=f"compare-{name}-")
    row = {"peer": name, "setup": PEERS[name][1]}
    command = [sys.executable, os.path.abspath(__file__), "--run-peer", name, "--events", str(args.events),
               "--threads", str(args.threads), "--dir", directory]
    try:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True)
        watched = None if name == "noop" else directory   # the no-op writes nothing to watch
        stdout, stderr, verdict = wait_for(child, args.timeout, args.hang_after, watched)
        if verdict:
            row["status"] = verdict
            row["stacks_at_kill"] = stderr[-6000:]          # faulthandler's dump of every thread
            return row
        if child.returncode != 0:
            last = (stderr.strip().splitlines() or ["no output"])[-1]
            row["status"] = f"failed (exit {child.returncode}): {last[:100]}"
            row["stderr"] = stderr[-4000:]
            return row
        report = json.loads(stdout.strip().splitlines()[-1])
        if "skipped" in report:
            row["status"] = f"skipped: {report['skipped']}"
            return row
        row.update(report)
        wall = report["wall_s"]
        row["ns_per_event"] = wall / args.events * 1e9 if args.events else None
        row["events_per_s"] = args.events / wall if wall else None
        row["peak_rss_mib"] = report["peak_rss_kib"] / 1024
        check = check_output(directory, args.events, expect_files=name != "noop")
        row.update({k: v for k, v in check.items() if k != "problem"})
        row["status"] = f"WRONG OUTPUT: {check['problem']}" if check["problem"] else "ok"
        if stderr.strip():
            row["stderr"] = stderr[-4000:]
        return row
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"platform": platform.platform(), "machine": platform.machine(), "cpu": cpu,
            "cores": os.cpu_count(),
            "python": f"{platform.python_implementation()} {platform.python_version()}"}


def machine_line(m: dict) -> str:
    return f"{m['cpu']}, {m['cores']} cores, {m['machine']}, {m['python']}, {m['platform']}"


def table(rows: list, events: int, threads: int, m: dict) -> str:
    base = next((r["wall_s"] for r in rows if r["peer"] == "fastevlog" and r.get("status") == "ok"), None)
    lines = [f"machine   {machine_line(m)}",
             f"workload  {events:,} events, {threads} threads; wall time up to the end of shutdown "
             "(every line on disk)",
             "",
             f"{'peer':<20} {'wall s':>8} {'ns/event':>9} {'events/s':>12} {'vs fastevlog':>12} "
             f"{'peak RSS MiB':>12}  status"]
    for r in rows:
        if "wall_s" in r:
            ratio = f"{r['wall_s'] / base:.2f}x" if base else "-"
            lines.append(f"{r['peer']:<20} {r['wall_s']:>8.2f} {r['ns_per_event']:>9,.0f} "
                         f"{r['events_per_s']:>12,.0f} {ratio:>12} {r['peak_rss_mib']:>12.1f}  {r['status']}")
        else:
            lines.append(f"{r['peer']:<20} {'-':>8} {'-':>9} {'-':>12} {'-':>12} {'-':>12}  {r['status']}")
    lines.append("")
    lines.append("vs fastevlog = peer wall time / fastevlog wall time (above 1: slower than fastevlog)")
    return "\n".join(lines)


def chart(rows: list, events: int, threads: int, m: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(reversed(rows))                 # first peer on top
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(rows) + 1.6))
    rates = [r.get("events_per_s") or 0 for r in rows]
    measured = [x for x in rates if x > 0]
    log_scale = bool(measured) and max(measured) / min(measured) > 20
    colors = []
    for r in rows:
        if r["peer"] == "fastevlog":
            colors.append("#d62728")
        elif r["peer"] == "noop":
            colors.append("#bbbbbb")
        elif r.get("status") == "ok":
            colors.append("#1f77b4")
        else:
            colors.append("#ff9896")
    ax.barh([r["peer"] for r in rows], rates, color=colors)
    if log_scale:
        ax.set_xscale("log")
    floor = min(measured) / 3 if log_scale and measured else 0
    right = max(measured) * (6 if log_scale else 1.3) if measured else 1
    ax.set_xlim(left=floor or 0, right=right)
    for y, (r, rate) in enumerate(zip(rows, rates)):
        if rate > 0:
            note = f" {rate:,.0f}/s" + ("" if r["status"] == "ok" else f"  [{r['status'][:40]}]")
            ax.text(rate, y, note, va="center", fontsize=8)
        else:
            ax.text(floor or 0, y, f"  {r['status'][:60]}", va="center", fontsize=8, color="#aa0000")
    ax.set_xlabel("events/s (higher is better" + (", log scale)" if log_scale else ")"))
    ax.set_title(f"{events:,} events from {threads} threads, wall time to all lines on disk\n"
                 f"{m['cpu']}, {m['cores']} cores, {m['python']}", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events in all (default %(default)s)")
    parser.add_argument("--threads", type=int, default=20, help="producer threads (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds before a peer is killed (default %(default)s)")
    parser.add_argument("--hang-after", type=float, default=30.0,
                        help="kill a peer as hung once it used no CPU, or added nothing to its files, for "
                             "this many seconds; 0: wait for --timeout (default %(default)s)")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "compare.json"))
    parser.add_argument("--chart", default=os.path.join(HERE, "results", "compare.png"))
    parser.add_argument("--only", default=None, help=f"comma-separated subset of: {','.join(PEERS)}")
    parser.add_argument("--run-peer", choices=list(PEERS), help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.events < 0 or args.threads < 1:
        parser.error("--events must be >= 0 and --threads >= 1")

    if args.run_peer:
        print(json.dumps(run_peer(args.run_peer, args.events, args.threads, args.dir)), flush=True)
        return 0

    names = list(PEERS)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in PEERS]
        if unknown:
            parser.error(f"unknown peers {unknown}; known: {','.join(PEERS)}")
    m = machine()
    command = shlex.join([os.path.basename(sys.executable)] + sys.argv)
    print(f"command   {command}", flush=True)
    started = _dt.datetime.now(_dt.timezone.utc)
    rows = []
    for name in names:
        print(f"  running {name} ...", end=" ", file=sys.stderr, flush=True)
        begin = time.perf_counter()
        rows.append(run_one(name, args))
        print(f"{rows[-1]['status']} ({time.perf_counter() - begin:.0f} s with the checks)",
              file=sys.stderr, flush=True)
    base = next((r["wall_s"] for r in rows if r["peer"] == "fastevlog" and r.get("status") == "ok"), None)
    for r in rows:
        r["ratio_to_fastevlog"] = r["wall_s"] / base if base and "wall_s" in r else None
    text = table(rows, args.events, args.threads, m)
    print(text)
    fastevlog_path = next((r.get("fastevlog_path") for r in rows if r.get("fastevlog_path")), None)
    if fastevlog_path:
        print(f"fastevlog from {fastevlog_path}")
    results = {"command": command, "argv": sys.argv, "cwd": os.getcwd(), "started_utc": started.isoformat(),
               "machine": m, "workload": {"events": args.events, "threads": args.threads,
                                          "timeout_s": args.timeout, "hang_after_s": args.hang_after,
                                          "distinct_ids": DISTINCT_IDS},
               "fastevlog_path": fastevlog_path, "peers": rows, "table": text}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as out:
        json.dump(results, out, indent=2)
        out.write("\n")
    if args.chart:
        chart(rows, args.events, args.threads, m, args.chart)
    print(f"results   {args.out}" + (f", chart {args.chart}" if args.chart else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
