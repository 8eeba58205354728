"""`fastevlog simulate` against the same loop with a no-op logger, side by side.

Each round runs both, one after the other, each in its own process, with the
log files in a fresh temporary directory, and then writes as many bytes as
fastevlog wrote with a plain os.write loop (1 MiB at a time, new files of 10
MiB): what putting those bytes in this machine's page cache costs by itself.
The medians and the ratios are printed, with each process's CPU time: on two
cores, CPU time above wall time is work that overlapped.  Machines here are
shared and noisy: read the ratios, not the seconds.

    python benchmarks/simulate_vs_noop.py [--events 10000000] [--threads 20] [--rounds 3]
"""

import argparse
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def simulate(events: int, threads: int, extra: list):
    """(wall s, process CPU s, producer threads' CPU s, bytes written) of one `fastevlog simulate` run."""
    directory = tempfile.mkdtemp(prefix="fastevlog-bench-")
    cpu = children_cpu()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "fastevlog", "simulate", "--events", str(events), "--threads",
             str(threads), "--dir", directory, "--no-progress", *extra],
            capture_output=True, text=True, check=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    wall = float(re.search(r"^wall time\s+([\d.]+) s", result.stdout, re.M).group(1))
    producers = float(re.search(r"producer threads ([\d.]+) s", result.stdout).group(1))
    written = re.search(r"^bytes\s+([\d,]+)", result.stdout, re.M)
    return (wall, children_cpu() - cpu, producers,
            int(written.group(1).replace(",", "")) if written else 0)


def write_plainly(total: int) -> float:
    """Seconds to write total bytes with os.write, 1 MiB per call, into new 10 MiB files."""
    directory = tempfile.mkdtemp(prefix="fastevlog-bench-")
    chunk = b"x" * (1024 * 1024)
    try:
        start = time.perf_counter()
        left, number = total, 0
        while left > 0:
            path = os.path.join(directory, f"{number}.log")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                for _ in range(10):
                    if left <= 0:
                        break
                    left -= os.write(fd, chunk[:min(left, len(chunk))])
            finally:
                os.close(fd)
            number += 1
        return time.perf_counter() - start
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logged, noop, plain = [], [], []
    for _ in range(args.rounds):
        logged.append(simulate(args.events, args.threads, []))
        noop.append(simulate(args.events, args.threads, ["--noop"]))
        plain.append(write_plainly(logged[-1][3]))
    wall, cpu, producers = (statistics.median(r[i] for r in logged) for i in range(3))
    noop_wall, noop_cpu = statistics.median(r[0] for r in noop), statistics.median(r[1] for r in noop)
    plain_s, written = statistics.median(plain), logged[-1][3]
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"machine      {platform.machine()}, {os.cpu_count()} cores, {python}")
    print(f"workload     {args.events:,} events, {args.threads} threads, median of {args.rounds} rounds")
    print(f"fastevlog    {wall:.2f} s  ({args.events / wall:,.0f} events/s), CPU {cpu:.2f} s "
          f"(producer threads {producers:.2f} s, the rest {cpu - producers:.2f} s)")
    print(f"no-op        {noop_wall:.2f} s  ({args.events / noop_wall:,.0f} events/s), CPU {noop_cpu:.2f} s")
    print(f"os.write     {plain_s:.2f} s  for the same {written / 2**20:,.0f} MiB, nothing else")
    print(f"ratio        {wall / noop_wall:.2f}x the no-op loop; "
          f"{wall / (noop_wall + plain_s):.2f}x the no-op loop plus os.write of the same bytes")


if __name__ == "__main__":
    main()
