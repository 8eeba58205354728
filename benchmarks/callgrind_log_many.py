"""Instructions per event of log_many() against a loop of log() over the same columns (callgrind).

The data of hot_path.py: N ids ``event_{i % 1000}`` and messages ``Event {id} occurred.``, hashed
once first (as later calls of a real program find them).  Each count is the whole program's less
that of the same program logging nothing, so it includes writing the lines to the files; instruction
counts are repeatable on a busy machine, unlike seconds.

    python benchmarks/callgrind_log_many.py [--events 200000]      # needs valgrind
"""

import argparse

from callgrind_log import callgrind, program_total

CHILD = """
import sys, tempfile
import fastevlog
which, n = sys.argv[1], int(sys.argv[2])
logger = fastevlog.EventLogCounter(directory=tempfile.mkdtemp(), level="INFO", flush_interval=3600,
                                   buffer_bytes=max(n * 128, 64 * 1024 * 1024))
ids = [f"event_{i % 1000}" for i in range(n)]
messages = [f"Event {event_id} occurred." for event_id in ids]
set(ids), set(messages)  # hash once, as the later calls of a real program find them
if which == "many":
    logger.log_many("INFO", ids, messages)
elif which == "loop":
    log = logger.log
    for event_id, message in zip(ids, messages):
        log("INFO", event_id, message)
logger.stop()
"""


def instructions(which: str, events: int) -> int:
    return program_total(callgrind(CHILD, which, str(events)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    base = instructions("none", args.events)
    loop, many = (instructions(which, args.events) - base for which in ("loop", "many"))
    print(f"instructions per event, {args.events:,} events under callgrind")
    print(f"{'loop of log()':<24}{loop / args.events:>8.0f}")
    print(f"{'log_many()':<24}{many / args.events:>8.0f}")
    print(f"log_many() takes {loop / many:.1f}x fewer instructions per event than the loop of log()")


if __name__ == "__main__":
    main()
