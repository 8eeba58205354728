"""Where the instructions of one log() call go: callgrind, per function, per call.

Runs N calls of c.log("INFO", "event_7", "Event event_7 occurred.") under
valgrind's callgrind (instruction counts: repeatable on a busy machine, unlike
seconds), and the same loop calling the no-op floor, then prints the
instructions per call of each core function (inclusive) and of the two loops.

    python benchmarks/callgrind_log.py [--calls 200000]      # needs valgrind
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

CHILD = """
import sys, tempfile
import fastevlog
from fastevlog import _core
def main(which, calls):
    logger = fastevlog.EventLogCounter(directory=tempfile.mkdtemp(), level="INFO")
    log, noop = logger.log, _core._noop
    if which == "log":
        for _ in range(calls):
            log("INFO", "event_7", "Event event_7 occurred.")
    elif which == "fields":
        for _ in range(calls):
            log("INFO", "event_7", "Event event_7 occurred.", user_id=42, name="bob")
    else:
        for _ in range(calls):
            noop("INFO", "event_7", "Event event_7 occurred.")
    logger.stop()
main(sys.argv[1], int(sys.argv[2]))
"""

def callgrind(child: str, *args: str, annotate: tuple = ()) -> str:
    """callgrind_annotate's report on `python -c child args` run under callgrind."""
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "callgrind.out")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                        os.path.realpath(sys.executable), "-c", child, *args],
                       check=True, capture_output=True)
        return subprocess.run(["callgrind_annotate", *annotate, out], check=True,
                              capture_output=True, text=True).stdout


def program_total(report: str) -> int:
    """The instructions of the whole program in a callgrind_annotate report."""
    return int(re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", report).group(1).replace(",", ""))


def profile(which: str, calls: int) -> dict:
    text = callgrind(CHILD, which, str(calls), annotate=("--inclusive=yes", "--threshold=100"))
    counts = {"total": program_total(text)}
    # Inclusive counts of the core's functions, named as in the .pyx (Cython's prefix dropped);
    # the generated C is in build/cython/src/ (setup.py).
    for match in re.finditer(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+\S*_core\.c:__pyx_f_9fastevlog_5_core_(\w+)",
                             text, re.M):
        name = re.sub(r"^\d+", "", match.group(2))
        counts.setdefault(name, int(match.group(1).replace(",", "")))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    base = profile("noop", 0)["total"]
    floor = profile("noop", args.calls)
    print(f"instructions per call, {args.calls:,} calls under callgrind")
    print(f"{'loop calling the no-op floor':<44}{(floor['total'] - base) / args.calls:>8.0f}")
    for which in ("log", "fields"):
        counts = profile(which, args.calls)
        label = 'log("INFO", "event_7", message)' + (" + 2 fields" if which == "fields" else "")
        print(f"{'loop calling ' + label:<44}{(counts['total'] - base) / args.calls:>8.0f}")
        core = sorted(((n, c) for n, c in counts.items() if n != "total" and c >= args.calls * 20),
                      key=lambda item: -item[1])
        for name, count in core:
            print(f"  {name:<42}{count / args.calls:>8.0f}")


if __name__ == "__main__":
    main()
