"""`fastevlog simulate` against the same loop with a no-op logger, side by side.

Each round runs both, one after the other, each in its own process, with the
log files in a fresh temporary directory; the medians and their ratio are
printed.  Machines here are shared and noisy: read the ratio, not the seconds.

    python benchmarks/simulate_vs_noop.py [--events 10000000] [--threads 20] [--rounds 3]
"""

import argparse
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile


def wall_time(events: int, threads: int, extra: list) -> float:
    directory = tempfile.mkdtemp(prefix="fastevlog-bench-")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "fastevlog", "simulate", "--events", str(events), "--threads",
             str(threads), "--dir", directory, "--no-progress", *extra],
            capture_output=True, text=True, check=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return float(re.search(r"^wall time\s+([\d.]+) s", result.stdout, re.M).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--threads", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logged, noop = [], []
    for _ in range(args.rounds):
        logged.append(wall_time(args.events, args.threads, []))
        noop.append(wall_time(args.events, args.threads, ["--noop"]))
    fastevlog_s, noop_s = statistics.median(logged), statistics.median(noop)
    python = f"{platform.python_implementation()} {platform.python_version()}"
    print(f"machine      {platform.machine()}, {python}")
    print(f"workload     {args.events:,} events, {args.threads} threads, median of {args.rounds} rounds")
    print(f"fastevlog    {fastevlog_s:.2f} s  ({args.events / fastevlog_s:,.0f} events/s)")
    print(f"no-op        {noop_s:.2f} s  ({args.events / noop_s:,.0f} events/s)")
    print(f"ratio        {fastevlog_s / noop_s:.2f}x the no-op loop")


if __name__ == "__main__":
    main()
