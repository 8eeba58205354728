"""pytest-benchmark suite of fastevlog: a quick smoke by default, real timings on request.

    python -m pytest benchmarks/                        # smoke: each benchmark body runs once, no timing
    python -m pytest benchmarks/ --benchmark-only       # real timings
    python -m pytest benchmarks/ --benchmark-only --benchmark-autosave
    python -m pytest benchmarks/ --benchmark-only --benchmark-compare --benchmark-compare-fail=mean:10%

Timings are switched on by any of --benchmark-only, --benchmark-enable, --benchmark-save,
--benchmark-autosave, --benchmark-compare, --benchmark-json or --benchmark-histogram;
without them this file sets --benchmark-disable before pytest-benchmark reads it.
The tests assert what each benchmark did (events logged and written, counts), never its speed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import pytest

import fastevlog

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # compare.produce, the seed's loop

TIMING_OPTIONS = ("benchmark_only", "benchmark_enable", "benchmark_save", "benchmark_autosave",
                  "benchmark_compare", "benchmark_json", "benchmark_histogram")


def timing_requested(config) -> bool:
    return any(getattr(config.option, name, None) for name in TIMING_OPTIONS)


def pytest_configure(config):
    # Runs before pytest-benchmark's own pytest_configure (trylast), which reads the option.
    if hasattr(config.option, "benchmark_disable") and not timing_requested(config):
        config.option.benchmark_disable = True


def pytest_report_header(config):
    if getattr(config.option, "benchmark_disable", False):
        return "benchmarks: smoke run (each body once, nothing timed); add --benchmark-only to time them"
    return f"benchmarks: timing fastevlog {fastevlog.__version__} from {os.path.dirname(fastevlog.__file__)}"


@pytest.fixture
def log_dir():
    """A fresh directory for log files, removed afterwards (benchmarks write hundreds of MB)."""
    directory = tempfile.mkdtemp(prefix="fastevlog-bench-")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def make_logger(log_dir):
    """make_logger(**parameters) -> a started EventLogCounter in its own subdirectory, stopped afterwards."""
    loggers = []

    def make(**parameters):
        parameters.setdefault("directory", os.path.join(log_dir, f"logger{len(loggers)}"))
        logger = fastevlog.EventLogCounter(**parameters)
        loggers.append(logger)
        return logger

    yield make
    for logger in loggers:
        logger.stop()


def _assert_written(logger, events: int) -> dict:
    logger.flush()
    metrics = logger.metrics()
    assert metrics["events_logged"] == events, metrics
    assert metrics["events_written"] == events, metrics
    assert metrics["dropped"] == 0 and metrics["write_failures"] == 0, metrics
    return metrics


@pytest.fixture
def assert_written():
    """assert_written(logger, n): flush, check exactly n events were accepted and written; the metrics."""
    return _assert_written
