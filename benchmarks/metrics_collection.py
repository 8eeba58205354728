"""What one Prometheus collection of fastevlog's counters costs, per logger.

EventLogCollector.collect() over 1 and 10 loggers, each having logged 1,000
distinct event ids (the main job's), without and with the top-10 per-id
series; beside them the reads a collection is made of (metrics(), the counts by
level) and counts(), which copies every id: the reason collect() reads the
level counts alone unless top_event_ids asks for the ids.  The floor (an empty
Python call) and one prometheus-client Sample show the machine's state: read the
ratios.  "scrape" is a whole
/metrics answer as prometheus-client's server makes it (generate_latest: the
collection and the text).  Interleaved rounds, the median reported.

    python benchmarks/metrics_collection.py [--rounds 7] [--calls 2000]
"""

import argparse
import importlib.metadata
import platform
import statistics
import tempfile
import time

import prometheus_client
from prometheus_client.samples import Sample

from fastevlog import EventLogCounter
from fastevlog.prometheus import EventLogCollector

IDS = 1000
TOP = 10


def variants(loggers):
    one, ten = loggers[:1], loggers
    collectors = {
        "collect(), 1 logger": (EventLogCollector(one, registry=None), 1),
        "collect(), 10 loggers": (EventLogCollector(ten, registry=None), 10),
        f"collect(), 1 logger, top {TOP} of {IDS:,} ids": (
            EventLogCollector(one, registry=None, top_event_ids=TOP), 1),
        f"collect(), 10 loggers, top {TOP} of {IDS:,} ids": (
            EventLogCollector(ten, registry=None, top_event_ids=TOP), 10),
    }
    result = {name: (lambda c=collector: list(c.collect()), n) for name, (collector, n) in collectors.items()}
    registry = prometheus_client.CollectorRegistry()
    EventLogCollector(ten, registry=registry)
    result["scrape (generate_latest), 10 loggers"] = (lambda: prometheus_client.generate_latest(registry), 10)
    logger = loggers[0]
    # The machine's state: what an empty Python call costs now (shared VMs vary 3x from day to day).
    result["floor: an empty Python call"] = (lambda: None, 1)
    result["one prometheus-client Sample"] = (lambda: Sample("a_total", {}, 1), 1)
    result["metrics(), 1 logger"] = (logger.metrics, 1)
    result["counts by level, 1 logger"] = (logger._level_counts_by_name, 1)
    result[f"counts(), 1 logger, {IDS:,} ids"] = (logger.counts, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000, help="calls per variant and round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        # 4 MiB buffers: ten loggers, and metrics() sums a header per segment (4 here, 32 by default).
        loggers = [EventLogCounter(directory=f"{directory}/{n}", buffer_bytes=4 * 1024 * 1024)
                   for n in range(10)]
        try:
            for logger in loggers:
                for i in range(IDS * 3):
                    logger.log("INFO" if i % 3 else "ERROR", f"event_{i % IDS}")
                logger.flush()
            timed = variants(loggers)
            rounds = {name: [] for name in timed}
            for _ in range(args.rounds):
                for name, (call, _) in timed.items():
                    start = time.perf_counter()
                    for _ in range(args.calls):
                        call()
                    rounds[name].append((time.perf_counter() - start) / args.calls)
        finally:
            for logger in loggers:
                logger.stop()
    print(f"machine  {platform.machine()}, CPython {platform.python_version()}, "
          f"prometheus-client {importlib.metadata.version('prometheus-client')}")
    print(f"calls    {args.calls:,} per variant, median of {args.rounds} interleaved rounds; "
          f"each logger has logged {IDS:,} distinct ids")
    floor = statistics.median(rounds["floor: an empty Python call"]) * 1e6
    print(f"{'variant':<46} {'us/call':>9} {'us/logger':>10} {'x floor':>8}")
    for name, (_, loggers_read) in timed.items():
        median = statistics.median(rounds[name]) * 1e6
        print(f"{name:<46} {median:>9.2f} {median / loggers_read:>10.2f} {median / floor:>8.0f}")
    one, ten = (statistics.median(rounds[f"collect(), {n}"]) * 1e6 for n in ("1 logger", "10 loggers"))
    print(f"each logger past the first adds {(ten - one) / 9:.2f} us to collect() "
          f"({(ten - one) / 9 / floor:.0f}x the floor); the rest is the families' fixed cost")


if __name__ == "__main__":
    main()
