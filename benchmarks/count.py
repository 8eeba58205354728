"""fastevlog count against DuckDB, polars and Python loops, side by side on the same files, 2 cores each.

The input is ``fastevlog simulate --events N`` output (10M events, about 1.2 GB, by default), made in a
temporary directory or reused from --dir, with zstandard copies of the same files (default level) in a
sibling directory ``DIR-zst``. Every file is read once before timing, so the page cache is warm.

Each tool runs in a subprocess of its own, pinned with sched_setaffinity to the same CPUs (--cpus, the
first two by default), each told to use that many threads: fastevlog ``jobs``, DuckDB ``SET threads``,
``POLARS_MAX_THREADS`` (set before polars is imported). Library tools are timed inside their process,
around the call that counts (no interpreter start, no import); the command lines (``fastevlog count``,
jq) are timed from outside, start to exit. Rows:

- fastevlog count(): ``fastevlog.count(DIR, by="level,event_id")``, the base of every ratio;
- fastevlog count (CLI): ``python -m fastevlog count DIR --by level,event_id --format json``;
- --by minute, a --since/--until window holding about the middle half of the events, and the .zst
  copies, all through count(); the .zst row's MB/s are of uncompressed bytes;
- DuckDB: ``SELECT level, event_id, count(*) FROM read_json('DIR/*.log', format='newline_delimited')
  GROUP BY ALL``, the issue's query; and the same told the two columns
  (``columns={level: 'VARCHAR', event_id: 'VARCHAR'}``), which spares DuckDB detecting and parsing the
  other fields (about 3x faster here): not in the issue's targets, but what a user who knows the schema
  would write;
- polars: ``pl.scan_ndjson('DIR/*.log').group_by(["level", "event_id"]).len().collect()``;
- a Python loop of ``orjson.loads`` + ``Counter`` over every line;
- the same loop with ``json.loads`` (what jq-style tools cost), and jq itself when it is on PATH
  (``jq -c '[.level, .event_id]' FILES | sort | uniq -c``): both on a sample of whole files (--sample-mb),
  compared per MB;
- the floor: reading the files and ``bytes.count(b"\\n")``, one thread; and the same through zstandard's
  decompressor from the .zst copies, what the .zst row's decompression alone costs on one thread.

Rounds are interleaved (every tool once per round, --rounds times) and the median is reported. Before the
rounds, a plain orjson count of the same files (untimed) answers every mode; each tool's groups in every
round must equal it exactly, and the floor's newlines its lines: a tool that counts wrong stops the run.

    python benchmarks/count.py [--events 10000000] [--dir DIR] [--rounds 3] [--cpus 0,1]
                               [--sample-mb 200] [--tools LIST] [--chart PATH] [--json PATH]

Machines here are shared and noisy: read the ratios of one run, not the seconds.
"""

from __future__ import annotations

import argparse
import calendar
import glob
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from importlib import metadata
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

DEFAULT_EVENTS = 10_000_000
MB = 1_000_000
READ_BLOCK = 4 * 1024 * 1024
WINDOW_SAMPLES = 2001   # lines sampled across the input to choose a window holding about half of it

# The targets: (what, the row, the row compared with, goal, kind). "faster" rows are met when
# fastevlog's time per MB is at most 1/goal of the other's; "at most" rows when the row's time is at most
# goal times the plain count's; "MB/s" rows when the row's MB/s reach the goal.
TARGETS = (
    ("fastevlog vs DuckDB", "duckdb", "fastevlog", 3.0, "faster"),
    ("(beyond the issue) vs DuckDB, columns given", "duckdb-columns", "fastevlog", 3.0, "faster"),
    ("fastevlog vs polars", "polars", "fastevlog", 3.0, "faster"),
    ("fastevlog vs the orjson loop", "orjson", "fastevlog", 20.0, "faster"),
    ("--by minute vs the plain count", "minute", "fastevlog", 1.5, "at most"),
    ("--since/--until vs the plain count", "window", "fastevlog", 1.5, "at most"),
    (".zst input, uncompressed MB/s", "zst", None, 1000.0, "MB/s"),
)

Key = Tuple[Any, ...]
Groups = Dict[Key, int]


# --------------------------------------------------------------------------- the tools, in their subprocess
# Each takes the job (a JSON dict the parent wrote) and returns {"seconds": s, "groups": [[*key, n], ...]}
# and, for some, more figures; "seconds" is left out when the parent times the whole process.

def encode_groups(groups: Any) -> List[list]:
    return [[*key, n] for key, n in groups.items()]


def tool_fastevlog(job: dict) -> dict:
    import fastevlog

    kwargs = {"by": job["by"], "jobs": job["threads"]}
    if job.get("since"):
        kwargs.update(since=job["since"], until=job["until"])
    started = time.perf_counter()
    result = fastevlog.count(job["dir"], **kwargs)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "groups": encode_groups(result.groups), "bytes": result.bytes,
            "files": result.files, "bad_lines": result.bad_lines, "total": result.total}


def tool_duckdb(job: dict) -> dict:
    import duckdb

    connection = duckdb.connect()
    connection.execute(f"SET threads={int(job['threads'])}")
    pattern = job["pattern"].replace("'", "''")  # a SQL string literal
    # Given columns, DuckDB reads only those two instead of detecting (and parsing) every field
    columns = ", columns={level: 'VARCHAR', event_id: 'VARCHAR'}" if job.get("columns") else ""
    query = (f"SELECT level, event_id, count(*) FROM read_json('{pattern}', "
             f"format='newline_delimited'{columns}) GROUP BY ALL")
    started = time.perf_counter()
    rows = connection.execute(query).fetchall()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "groups": [list(row) for row in rows]}


def tool_polars(job: dict) -> dict:
    import polars as pl  # POLARS_MAX_THREADS is in this process's environment, set by the parent

    started = time.perf_counter()
    frame = pl.scan_ndjson(job["pattern"]).group_by(["level", "event_id"]).len().collect()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "groups": [list(row) for row in frame.iter_rows()],
            "threads": pl.thread_pool_size()}


def loads_loop(files: Sequence[str], loads: Callable[[bytes], Any]) -> Counter:
    groups: Counter = Counter()
    for path in files:
        with open(path, "rb") as file:
            for line in file:
                obj = loads(line)
                groups[obj["level"], obj["event_id"]] += 1
    return groups


def tool_orjson(job: dict) -> dict:
    import orjson

    started = time.perf_counter()
    groups = loads_loop(job["files"], orjson.loads)
    return {"seconds": time.perf_counter() - started, "groups": encode_groups(groups)}


def tool_json(job: dict) -> dict:
    started = time.perf_counter()
    groups = loads_loop(job["files"], json.loads)
    return {"seconds": time.perf_counter() - started, "groups": encode_groups(groups)}


def tool_floor(job: dict) -> dict:
    newlines = 0
    started = time.perf_counter()
    for path in job["files"]:
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(READ_BLOCK), b""):  # noqa: B023 (file is this loop's)
                newlines += block.count(b"\n")
    return {"seconds": time.perf_counter() - started, "newlines": newlines}


def tool_zst_floor(job: dict) -> dict:
    import zstandard

    newlines = 0
    started = time.perf_counter()
    for path in job["files"]:
        with open(path, "rb") as file, zstandard.ZstdDecompressor().stream_reader(file) as reader:
            for block in iter(lambda: reader.read(READ_BLOCK), b""):  # noqa: B023 (reader is this loop's)
                newlines += block.count(b"\n")
    return {"seconds": time.perf_counter() - started, "newlines": newlines}


IN_PROCESS_TOOLS = {"fastevlog": tool_fastevlog, "duckdb": tool_duckdb, "polars": tool_polars,
                    "orjson": tool_orjson, "json": tool_json, "floor": tool_floor,
                    "zst-floor": tool_zst_floor}


def worker_main(name: str, job_json: str) -> None:
    print(json.dumps(IN_PROCESS_TOOLS[name](json.loads(job_json))))


# --------------------------------------------------------------------------- rows and how each is run

class Row:
    """One line of the table: a tool in one mode, how to run it, which reference its groups must equal."""

    def __init__(self, name: str, label: str, *, tool: Optional[str] = None, command: Optional[list] = None,
                 job: Optional[dict] = None, reference: str = "plain", sample: bool = False,
                 parse: Optional[Callable[[str], dict]] = None, note: str = "") -> None:
        self.name, self.label, self.tool, self.command = name, label, tool, command
        self.job, self.reference, self.sample = job or {}, reference, sample
        self.parse, self.note = parse, note
        self.seconds: List[float] = []
        self.bytes = 0


def parse_cli(stdout: str) -> dict:
    answer = json.loads(stdout)
    groups = [[group["level"], group["event_id"], group["count"]] for group in answer["groups"]]
    return {"groups": groups, "bytes": answer["bytes"], "files": answer["files"], "total": answer["total"]}


def parse_uniq(stdout: str) -> dict:
    # uniq -c's lines are "  COUNT [level, event_id]", the pair as jq's JSON, so an id keeps its type
    groups = []
    for line in stdout.splitlines():
        n, pair = line.strip().split(" ", 1)
        groups.append([*json.loads(pair), int(n)])
    return {"groups": groups}


# The jq pipeline (jq -r .event_id | sort | uniq -c) by level and id. jq's own reduce into an
# object was tried: a few MB/s, as it copies the object per line.
JQ_PIPELINE = "jq -c '[.level, .event_id]' \"$@\" | LC_ALL=C sort | uniq -c"


# `python -m fastevlog` puts the working directory first on sys.path: run from the repository's root (CI
# installs fastevlog without building in place), it would import the source tree, which has no compiled core.
NEUTRAL_CWD = "/"


def run_row(row: Row, cpus: Sequence[int]) -> Tuple[float, dict]:
    """(seconds, what the tool answered) for one run of the row, pinned to cpus."""
    env = dict(os.environ, POLARS_MAX_THREADS=str(len(cpus)))
    if row.tool:
        command = [sys.executable, os.path.abspath(__file__), "--worker", row.tool, json.dumps(row.job)]
    else:
        command = list(row.command or [])
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env, check=False, cwd=NEUTRAL_CWD,
                          preexec_fn=lambda: os.sched_setaffinity(0, cpus))
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{row.label}: exit status {done.returncode}\n$ {' '.join(command[:6])} ...\n"
                         f"{done.stderr.decode(errors='replace')[-3000:]}")
    stdout = done.stdout.decode()
    answer = row.parse(stdout) if row.parse else json.loads(stdout)
    return answer.get("seconds", wall), answer


# --------------------------------------------------------------------------- the input

def list_logs(directory: str) -> List[str]:
    return sorted(glob.glob(os.path.join(directory, "*.log")))


def make_input(directory: str, events: int) -> None:
    print(f"making the input: fastevlog simulate --events {events} --dir {directory}", file=sys.stderr)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fastevlog", "simulate", "--events", str(events),
                    "--dir", os.path.abspath(directory), "--no-progress"], check=True,
                   stdout=subprocess.DEVNULL, cwd=NEUTRAL_CWD)
    print(f"made in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def make_zst_copies(files: Sequence[str], zst_dir: str) -> List[str]:
    """DIR-zst/NAME.log.zst for every file, at zstandard's default level; an up-to-date copy is reused."""
    import zstandard

    os.makedirs(zst_dir, exist_ok=True)
    copies = []
    for path in files:
        copy = os.path.join(zst_dir, os.path.basename(path) + ".zst")
        if not (os.path.exists(copy) and os.path.getmtime(copy) >= os.path.getmtime(path)):
            partial = copy + ".partial"  # renamed when whole, so an interrupted run never leaves a torn copy
            with open(path, "rb") as source, open(partial, "wb") as target:
                zstandard.ZstdCompressor().copy_stream(source, target)
            os.replace(partial, copy)
        copies.append(copy)
    stale = set(glob.glob(os.path.join(zst_dir, "*"))) - set(copies)
    if stale:
        raise SystemExit(f"{zst_dir} holds files that are not copies of {os.path.dirname(files[0])}'s "
                         f"logs (e.g. {sorted(stale)[0]}): remove them, or that directory")
    return copies


def warm(files: Sequence[str]) -> None:
    block = bytearray(READ_BLOCK)
    for path in files:
        with open(path, "rb", buffering=0) as file:
            while file.readinto(block):
                pass


def sample_files(files: Sequence[str], megabytes: float) -> List[str]:
    """The first whole files (by name) holding at least megabytes MB, or all of them."""
    chosen, size = [], 0
    for path in files:
        if size >= megabytes * MB:
            break
        chosen.append(path)
        size += os.path.getsize(path)
    return chosen


def choose_window(files: Sequence[str], loads: Callable[[bytes], Any]) -> Tuple[str, str]:
    """The 25th and 75th percentiles of timestamps sampled across the input: a window of about half of it."""
    sizes = [os.path.getsize(path) for path in files]
    total = sum(sizes)
    stamps = []
    for k in range(WINDOW_SAMPLES):
        offset = total * k // WINDOW_SAMPLES
        index = 0
        while offset >= sizes[index]:
            offset -= sizes[index]
            index += 1
        with open(files[index], "rb") as file:
            file.seek(offset)
            if offset:
                file.readline()  # the rest of the line the offset fell in
            line = file.readline()
        try:
            stamp = loads(line)["timestamp"]
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(stamp, str) and utc_instant(stamp) is not None:
            stamps.append(stamp)
    if len(stamps) < 4:
        raise SystemExit("could not sample timestamps to choose a --since/--until window")
    stamps.sort(key=utc_instant)  # type: ignore[arg-type]
    return stamps[len(stamps) // 4], stamps[len(stamps) * 3 // 4]


# --------------------------------------------------------------------------- the reference count (untimed)

RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:[Zz]|([+-])(\d\d):(\d\d))\Z", re.ASCII)


def utc_instant(text: str) -> Optional[Tuple[int, str]]:
    """(whole seconds since 1970 UTC, fraction digits without trailing zeros), or None if not RFC 3339.

    Fractions stripped of trailing zeros compare as decimals when compared as strings, so the tuples
    order instants exactly, at any precision.
    """
    match = RFC3339.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1] and hour < 24
            and minute < 60 and second < 60):
        return None
    seconds = calendar.timegm((year, month, day, hour, minute, second))
    if match.group(8):
        offset_hours, offset_minutes = int(match.group(9)), int(match.group(10))
        if offset_hours > 23 or offset_minutes > 59:
            return None
        offset = offset_hours * 3600 + offset_minutes * 60
        seconds -= offset if match.group(8) == "+" else -offset
    return seconds, (match.group(7) or "").rstrip("0")


class Reference:
    """A plain loads loop's answer for every mode the rows ask, counted once, before the timed rounds."""

    def __init__(self) -> None:
        self.plain: Groups = Counter()
        self.per_file: Dict[str, Groups] = {}
        self.minute: Groups = Counter()
        self.window: Groups = Counter()
        self.newlines = 0
        self.bad_lines = 0

    def groups(self, reference: str, files: Sequence[str]) -> Groups:
        if reference == "sample":
            groups: Counter = Counter()
            for path in files:
                groups.update(self.per_file[path])
            return groups
        return {"plain": self.plain, "minute": self.minute, "window": self.window}[reference]


def count_reference(files: Sequence[str], since: str, until: str, loads: Callable[[bytes], Any]) -> Reference:
    """Count every line the way the issue says (skipping blank and bad ones), by key, minute and window.

    The input is one writer's lines, so this checks the tools' arithmetic, not every corner of the spec
    (tests/count_reference.py is the spec's oracle, far too slow for a gigabyte).
    """
    reference = Reference()
    since_instant, until_instant = utc_instant(since), utc_instant(until)
    assert since_instant is not None and until_instant is not None
    seconds_of: Dict[str, Tuple[int, str]] = {}  # the instant's whole seconds by the stamp's first 19 chars
    minute_of: Dict[int, str] = {}
    for path in files:
        groups: Counter = Counter()
        with open(path, "rb") as file:
            for line in file:
                if not line.endswith(b"\n"):
                    reference.bad_lines += bool(line.strip())  # a torn last line
                    continue
                reference.newlines += 1
                if not line.strip():
                    continue
                try:
                    obj = loads(line)
                    level, event_id = obj["level"], obj["event_id"]
                except (ValueError, KeyError, TypeError):
                    reference.bad_lines += 1
                    continue
                if not (isinstance(level, str) and isinstance(event_id, (str, int))
                        and not isinstance(event_id, bool)):
                    reference.bad_lines += 1
                    continue
                groups[level, event_id] += 1
                stamp = obj.get("timestamp")
                if not isinstance(stamp, str):
                    continue  # a bad line when time is asked: in neither the minute nor the window counts
                # fastevlog's own stamps are YYYY-MM-DDTHH:MM:SS.ffffffZ: their seconds are looked up
                if len(stamp) == 27 and stamp[26] == "Z" and stamp[19] == ".":
                    instant = seconds_of.get(stamp[:19])
                    if instant is None:
                        instant = seconds_of[stamp[:19]] = utc_instant(stamp[:19] + "Z")  # type: ignore
                        if instant is None:
                            continue
                    instant = (instant[0], stamp[20:26].rstrip("0"))
                else:
                    instant = utc_instant(stamp)  # type: ignore[assignment]
                    if instant is None:
                        continue
                minute = instant[0] - instant[0] % 60
                if minute not in minute_of:
                    utc = time.gmtime(minute)  # not strftime: glibc's %Y writes year 999 in 3 digits
                    minute_of[minute] = (f"{utc.tm_year:04d}-{utc.tm_mon:02d}-{utc.tm_mday:02d}"
                                         f"T{utc.tm_hour:02d}:{utc.tm_min:02d}Z")
                reference.minute[(minute_of[minute],)] += 1
                if since_instant <= instant < until_instant:
                    reference.window[level, event_id] += 1
        reference.per_file[path] = groups
        reference.plain.update(groups)
    return reference


def check(row: Row, answer: dict, expected: Groups, reference: Reference) -> None:
    """Stop the run when a tool's counts differ from the reference's: a benchmark counting wrong is a bug."""
    if "newlines" in answer:
        if answer["newlines"] != reference.newlines:
            raise SystemExit(f"COUNT MISMATCH: {row.label} counted {answer['newlines']:,} newlines, "
                             f"the reference {reference.newlines:,}")
        return
    got: Counter = Counter()
    for *key, n in answer["groups"]:
        got[tuple(key)] += n
    if got == expected:
        return
    differ = sorted((key for key in set(got) | set(expected) if got.get(key, 0) != expected.get(key, 0)),
                    key=repr)
    shown = ", ".join(f"{key!r}: {got.get(key, 0):,} (reference {expected.get(key, 0):,})"
                      for key in differ[:5])
    raise SystemExit(f"COUNT MISMATCH: {row.label}: total {sum(got.values()):,}, reference "
                     f"{sum(expected.values()):,}; {len(differ)} groups differ, e.g. {shown}")


# --------------------------------------------------------------------------- the rows of one run

def build_rows(args: argparse.Namespace, directory: str, files: List[str], zst_dir: str,
               sample: List[str], since: str, until: str) -> List[Row]:
    threads = len(args.cpus)
    pattern = os.path.join(directory, "*.log")
    sample_mb = sum(os.path.getsize(path) for path in sample) / MB
    fast = {"dir": directory, "by": "level,event_id", "threads": threads}
    rows = [
        Row("fastevlog", "fastevlog count()", tool="fastevlog", job=fast),
        Row("cli", "fastevlog count (CLI)",
            command=[sys.executable, "-m", "fastevlog", "count", directory, "--by", "level,event_id",
                     "--format", "json", "--jobs", str(threads)],
            parse=parse_cli, note="whole process, start to exit"),
        Row("minute", "fastevlog count() --by minute", tool="fastevlog", reference="minute",
            job=dict(fast, by="minute")),
        Row("window", "fastevlog count() --since/--until", tool="fastevlog", reference="window",
            job=dict(fast, since=since, until=until)),
        Row("zst", "fastevlog count() .zst", tool="fastevlog", job=dict(fast, dir=zst_dir),
            note="MB/s of uncompressed bytes"),
        Row("duckdb", "DuckDB read_json GROUP BY", tool="duckdb",
            job={"pattern": pattern, "threads": threads}),
        Row("duckdb-columns", "DuckDB, columns given", tool="duckdb",
            job={"pattern": pattern, "threads": threads, "columns": True}, note="not the issue's query"),
        Row("polars", "polars scan_ndjson group_by", tool="polars", job={"pattern": pattern}),
        Row("orjson", "orjson.loads + Counter loop", tool="orjson", job={"files": files}),
        Row("json", "json.loads + Counter loop", tool="json", job={"files": sample}, reference="sample",
            sample=True, note=f"on {sample_mb:,.0f} MB, ratio per MB"),
        Row("jq", "jq | sort | uniq -c", command=["sh", "-c", JQ_PIPELINE, "sh", *sample], parse=parse_uniq,
            reference="sample", sample=True, note=f"on {sample_mb:,.0f} MB, ratio per MB, whole pipeline"),
        Row("floor", 'read + bytes.count(b"\\n")', tool="floor", job={"files": files}, note="one thread"),
        Row("zst-floor", "zstd decompress + bytes.count", tool="zst-floor", note="one thread, .zst copies",
            job={"files": [os.path.join(zst_dir, os.path.basename(path) + ".zst") for path in files]}),
    ]
    input_bytes = sum(os.path.getsize(path) for path in files)
    sample_bytes = int(sample_mb * MB)
    for row in rows:
        row.bytes = sample_bytes if row.sample else input_bytes
    return rows


def unavailable(row: Row) -> Optional[str]:
    """Why the row cannot run here, or None."""
    modules = {"duckdb": "duckdb", "duckdb-columns": "duckdb", "polars": "polars", "orjson": "orjson",
               "zst": "zstandard", "zst-floor": "zstandard"}
    module = modules.get(row.name)
    if module and importlib.util.find_spec(module) is None:
        return f"{module} not installed (pip install '.[bench]')"
    if row.name == "jq" and shutil.which("jq") is None:
        return "jq not on PATH"
    return None


def version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "-"


# --------------------------------------------------------------------------- the report

def median(row: Row) -> float:
    return statistics.median(row.seconds)


def seconds_per_mb(row: Row) -> float:
    return median(row) / (row.bytes / MB)


def targets(rows: Dict[str, Row]) -> List[dict]:
    found = []
    for what, name, base, goal, kind in TARGETS:
        row = rows.get(name)
        base_row = rows.get(base) if base else None
        if row is None or not row.seconds or (base and (base_row is None or not base_row.seconds)):
            found.append({"target": what, "value": None, "goal": goal, "kind": kind, "met": None})
            continue
        if kind == "faster":
            assert base_row is not None
            value = seconds_per_mb(row) / seconds_per_mb(base_row)
            met = value >= goal
        elif kind == "at most":
            assert base_row is not None
            value = seconds_per_mb(row) / seconds_per_mb(base_row)
            met = value <= goal
        else:
            value = row.bytes / MB / median(row)
            met = value >= goal
        found.append({"target": what, "value": value, "goal": goal, "kind": kind, "met": met})
    return found


def report(rows: List[Row], skipped: Dict[str, str], header: List[str], found: List[dict]) -> str:
    by_name = {row.name: row for row in rows}
    base = by_name.get("fastevlog")
    lines = list(header)
    lines.append("")
    lines.append(f"{'tool':<36}{'seconds':>9}{'MB/s':>9}{'x fastevlog':>13}  {'rounds (s)':<14}note")
    for row in rows:
        if row.name in skipped:
            lines.append(f"{row.label:<36}{'-':>9}{'-':>9}{'-':>13}  {'':<14}skipped: {skipped[row.name]}")
            continue
        ratio = f"{seconds_per_mb(row) / seconds_per_mb(base):.2f}" if base and base.seconds else "-"
        spread = f"{min(row.seconds):.2f}-{max(row.seconds):.2f}"
        lines.append(f"{row.label:<36}{median(row):>9.2f}{row.bytes / MB / median(row):>9,.0f}{ratio:>13}  "
                     f"{spread:<14}{row.note}")
    lines.append("")
    lines.append(f"{'targets (issue 13)':<46}{'measured':>12}  {'goal':<16}")
    for target in found:
        if target["kind"] == "MB/s":
            goal = f">= {target['goal']:,.0f} MB/s"
            value = "-" if target["value"] is None else f"{target['value']:,.0f} MB/s"
        else:
            goal = (">= " if target["kind"] == "faster" else "<= ") + f"{target['goal']:g}x"
            value = "-" if target["value"] is None else f"{target['value']:.2f}x"
        verdict = {True: "met", False: "NOT MET", None: "not measured"}[target["met"]]
        lines.append(f"{target['target']:<46}{value:>12}  {goal:<16}{verdict}")
    return "\n".join(lines)


def write_chart(path: str, rows: List[Row], skipped: Dict[str, str], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [row for row in rows if row.name not in skipped and row.seconds]
    speeds = [row.bytes / MB / median(row) for row in shown]
    colours = ["tab:blue" if row.label.startswith("fastevlog") else
               "tab:gray" if row.name == "floor" else "tab:orange" for row in shown]
    figure, axes = plt.subplots(figsize=(9, 0.45 * len(shown) + 1.5))
    positions = range(len(shown))[::-1]
    axes.barh(list(positions), speeds, color=colours)
    axes.set_yticks(list(positions))
    axes.set_yticklabels([row.label + (" (sample)" if row.sample else "") for row in shown])
    for position, speed in zip(positions, speeds):
        axes.text(speed, position, f" {speed:,.0f}", va="center", fontsize=8)
    axes.set_xlabel("MB/s (uncompressed input), median of the rounds; every tool on the same 2 CPUs")
    axes.set_title(title, fontsize=10)
    axes.set_xlim(0, max(speeds) * 1.15)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


# --------------------------------------------------------------------------- main

def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, default=None,
                        help="events of fastevlog simulate when it makes the input "
                        f"(default {DEFAULT_EVENTS:,})")
    parser.add_argument("--dir", help="the input: its *.log files are used if it holds any, otherwise "
                        "fastevlog simulate writes them there (kept); default a temporary directory")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpus", default=None,
                        help="comma-separated CPU numbers every tool is pinned to (default: the first two "
                        "this process may use)")
    parser.add_argument("--sample-mb", type=float, default=200.0,
                        help="MB of whole files the json.loads loop and jq read (default 200)")
    parser.add_argument("--tools", default=None,
                        help="comma-separated rows to run among fastevlog, cli, minute, window, zst, "
                        "duckdb, duckdb-columns, polars, orjson, json, jq, floor, zst-floor (default all; "
                        "fastevlog always runs: the ratios' base)")
    parser.add_argument("--chart", help="write a bar chart of MB/s per tool to this PNG")
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.events is not None and args.events < 1:
        parser.error("--events must be at least 1")
    if args.sample_mb <= 0:
        parser.error("--sample-mb must be more than 0")
    allowed = sorted(os.sched_getaffinity(0))
    if args.cpus is None:
        args.cpus = allowed[:2]
    else:
        try:
            args.cpus = sorted({int(cpu) for cpu in args.cpus.split(",")})
        except ValueError:
            parser.error(f"--cpus takes CPU numbers separated by commas, not {args.cpus!r}")
        if not set(args.cpus) <= set(allowed):
            parser.error(f"--cpus {args.cpus} is not a subset of the CPUs this process may use, {allowed}")
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    try:
        import orjson
        loads: Callable[[bytes], Any] = orjson.loads
    except ImportError:
        loads = json.loads
    temporary = None
    if args.dir is None:
        temporary = tempfile.mkdtemp(prefix="fastevlog-count-")
        directory = os.path.join(temporary, "logs")
    else:
        directory = os.path.abspath(args.dir)
    try:
        files = list_logs(directory)
        made = not files
        if made:
            make_input(directory, args.events or DEFAULT_EVENTS)
            files = list_logs(directory)
        elif args.events is not None:
            print(f"--events ignored: {directory} already holds {len(files)} log files, used as they are",
                  file=sys.stderr)
        if not files:
            raise SystemExit(f"no *.log files in {directory}")
        run(args, directory, files, loads, made)
    finally:
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)


def run(args: argparse.Namespace, directory: str, files: List[str], loads: Callable[[bytes], Any],
        made: bool) -> None:
    zst_dir = directory.rstrip(os.sep) + "-zst"
    started = time.perf_counter()
    since, until = choose_window(files, loads)
    sample = sample_files(files, args.sample_mb)
    rows = build_rows(args, directory, files, zst_dir, sample, since, until)
    wanted = set(args.tools.split(",")) | {"fastevlog"} if args.tools else {row.name for row in rows}
    unknown = wanted - {row.name for row in rows}
    if unknown:
        raise SystemExit(f"--tools: unknown {', '.join(sorted(unknown))}; the rows are "
                         f"{', '.join(row.name for row in rows)}")
    skipped = {row.name: "not in --tools" for row in rows if row.name not in wanted}
    for row in rows:
        reason = row.name not in skipped and unavailable(row)
        if reason:
            skipped[row.name] = reason
    zst_files: List[str] = []
    if "zst" not in skipped or "zst-floor" not in skipped:
        print(f"zstandard copies in {zst_dir} (made once, then reused)", file=sys.stderr)
        zst_files = make_zst_copies(files, zst_dir)
    print("the reference count (orjson loop, untimed) ...", file=sys.stderr)
    reference = count_reference(files, since, until, loads)
    warm(files + zst_files)
    print(f"ready in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    started = time.perf_counter()

    active = [row for row in rows if row.name not in skipped]
    for round_ in range(args.rounds):
        for row in active:
            seconds, answer = run_row(row, args.cpus)
            expected = reference.groups(row.reference, sample if row.sample else files)
            check(row, answer, expected, reference)
            # fastevlog says what it read: every file, and of the .zst copies their uncompressed bytes
            if "files" in answer and (answer["bytes"] != row.bytes or answer["files"] != len(files)):
                raise SystemExit(f"{row.label} read {answer['files']} files, {answer['bytes']:,} bytes; "
                                 f"the input is {len(files)} files, {row.bytes:,} bytes")
            row.seconds.append(seconds)
            print(f"round {round_ + 1}/{args.rounds}  {row.label:<36}{seconds:8.2f} s", file=sys.stderr)
    print(f"{args.rounds} rounds in {time.perf_counter() - started:.1f} s", file=sys.stderr)

    input_bytes = sum(os.path.getsize(path) for path in files)
    zst_bytes = sum(os.path.getsize(path) for path in zst_files)
    total = sum(reference.plain.values())
    window_share = sum(reference.window.values()) / total if total else 0.0
    cpus = ",".join(map(str, args.cpus))
    versions = {name: version_of(name) for name in ("fastevlog", "duckdb", "polars", "orjson", "zstandard")}
    jq_version = "-"
    if shutil.which("jq"):
        jq_version = subprocess.run(["jq", "--version"], capture_output=True, text=True).stdout.strip()
    header = [
        f"machine  {platform.machine()}, CPython {platform.python_version()}, {os.cpu_count()} cores; "
        f"every tool pinned to CPUs {cpus} (fastevlog jobs, DuckDB threads, POLARS_MAX_THREADS = "
        f"{len(args.cpus)})",
        "versions " + ", ".join(f"{name} {version}" for name, version in versions.items())
        + f", {jq_version}",
        f"input    {total:,} events in {len(files)} files, {input_bytes / MB:,.1f} MB"
        + (" (made by fastevlog simulate)" if made else f" (in {directory})")
        + (f"; .zst copies {zst_bytes / MB:,.1f} MB" if zst_files else "") + "; page cache warm",
        f"window   --since {since} --until {until}: {window_share:.1%} of the events",
        f"rounds   median of {args.rounds} interleaved; every tool's counts equal a plain orjson count's "
        "in every round",
        "x fastevlog: the row's seconds per MB over fastevlog count()'s (2.00: half as fast)",
    ]
    found = targets({row.name: row for row in rows})
    print(report(rows, skipped, header, found))

    if args.chart:
        write_chart(args.chart, rows, skipped,
                    f"counting {input_bytes / MB:,.0f} MB of fastevlog simulate output by level and event id")
    if args.json:
        figures = {
            "command": "python benchmarks/count.py " + " ".join(sys.argv[1:]),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"arch": platform.machine(), "python": platform.python_version(),
                        "cores": os.cpu_count(), "platform": platform.platform(), "cpus": args.cpus},
            "versions": dict(versions, jq=jq_version),
            "input": {"events": total, "files": len(files), "bytes": input_bytes, "zst_bytes": zst_bytes,
                      "made": made, "window": {"since": since, "until": until, "share": window_share}},
            "rounds": args.rounds,
            "rows": [{"name": row.name, "label": row.label, "bytes": row.bytes, "note": row.note,
                      "skipped": skipped.get(row.name), "seconds": row.seconds,
                      "median_seconds": median(row) if row.seconds else None,
                      "mb_per_s": row.bytes / MB / median(row) if row.seconds else None}
                     for row in rows],
            "targets": found,
        }
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=1)
            out.write("\n")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2], sys.argv[3])
    else:
        main()
