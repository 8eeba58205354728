"""The cost of one call, in batches of CALLS so that pytest-benchmark's own overhead does not count.

Each round is CALLS calls in one loop: divide the times shown by CALLS for one call
(the floor, test_noop, runs the very same loop on a no-op).
"""

from __future__ import annotations

import glob
import json
import os
from itertools import repeat

import pytest

import fastevlog
from fastevlog import _core

CALLS = 10_000
LEVEL, EVENT_ID, MESSAGE = "INFO", "event_7", "Event event_7 occurred."


def batched(call, *args, **fields):
    """A function making CALLS calls of call(*args, **fields), and a list counting its runs."""
    runs = [0]

    def run():
        for _ in repeat(None, CALLS):
            call(*args, **fields)
        runs[0] += 1

    return run, runs


@pytest.mark.benchmark(group="call")
def test_noop(benchmark):
    """The floor: the same loop calling a compiled no-op with the same arguments."""
    run, runs = batched(_core._noop, LEVEL, EVENT_ID, MESSAGE)
    benchmark.extra_info["calls_per_round"] = CALLS
    benchmark(run)
    assert runs[0] >= 1
    assert _core._noop(LEVEL, EVENT_ID, MESSAGE) is None


@pytest.mark.benchmark(group="call")
def test_log(benchmark, make_logger, assert_written):
    """The hot path: log() of one event, writers running in the background as in production."""
    logger = make_logger()
    run, runs = batched(logger.log, LEVEL, EVENT_ID, MESSAGE)
    benchmark.extra_info["calls_per_round"] = CALLS
    benchmark(run)
    events = runs[0] * CALLS
    assert_written(logger, events)
    assert logger.counts() == {"levels": {"INFO": events}, "event_ids": {"event_7": events}}


@pytest.mark.benchmark(group="call")
def test_log_filtered_by_level(benchmark, make_logger, assert_written):
    """A DEBUG call on a logger whose level is INFO: the level check only, nothing logged."""
    logger = make_logger(level="INFO")
    run, runs = batched(logger.log, "DEBUG", EVENT_ID, MESSAGE)
    benchmark.extra_info["calls_per_round"] = CALLS
    benchmark(run)
    assert runs[0] >= 1
    assert_written(logger, 0)
    assert logger.counts() == {"levels": {}, "event_ids": {}}


@pytest.mark.benchmark(group="call")
def test_log_two_fields(benchmark, make_logger, assert_written):
    """log() with two extra fields, an int and a str."""
    logger = make_logger()
    run, runs = batched(logger.log, LEVEL, EVENT_ID, MESSAGE, user_id=42, name="bob")
    benchmark.extra_info["calls_per_round"] = CALLS
    benchmark(run)
    assert_written(logger, runs[0] * CALLS)
    with open(_first_log_file(logger)) as file:
        first = json.loads(file.readline())
    assert (first["event_id"], first["user_id"], first["name"]) == (EVENT_ID, 42, "bob")


def _first_log_file(logger):
    directory = os.path.dirname(logger.buffer_path)
    return sorted(glob.glob(os.path.join(glob.escape(directory), "async_buffered_logs_*.log")))[0]


MANY = 100_000


@pytest.mark.benchmark(group="log_many")
@pytest.mark.skipif(not hasattr(fastevlog.EventLogCounter, "log_many"),
                    reason="EventLogCounter.log_many is not in this build of fastevlog yet")
def test_log_many(benchmark, make_logger, assert_written):
    """log_many(levels, event_ids, messages) on 100k events of the seed's workload in one call."""
    ids = [f"event_{i % 1000}" for i in range(MANY)]
    messages = [f"Event {event_id} occurred." for event_id in ids]
    levels = [("INFO", "ERROR")[i & 1] for i in range(MANY)]
    logger = make_logger()
    runs = [0]

    def run():
        logger.log_many(levels, ids, messages)
        runs[0] += 1

    benchmark.extra_info["events_per_round"] = MANY
    benchmark(run)
    events = runs[0] * MANY
    assert_written(logger, events)
    counts = logger.counts()
    assert counts["levels"] == {"INFO": events // 2, "ERROR": events // 2}
    assert counts["event_ids"]["event_999"] == events // 1000
