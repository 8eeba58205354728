"""fastevlog.prometheus: the collector, scraped over HTTP from prometheus-client's own server."""

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path
from typing import Dict, FrozenSet, Tuple

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import child_env, run_python

import fastevlog
from fastevlog import EventLogCounter, cli
from fastevlog.prometheus import OTHER_EVENT_IDS, EventLogCollector

# Written out here, not imported, so that a wrong mapping in the module fails these tests.
COUNTER_KEYS = {
    "fastevlog_events_written_total": "events_written",
    "fastevlog_bytes_written_total": "bytes_written",
    "fastevlog_flushes_total": "flushes",
    "fastevlog_rotations_total": "rotations",
    "fastevlog_write_failures_total": "write_failures",
    "fastevlog_write_retries_total": "retries",
    "fastevlog_events_dropped_total": "dropped",
    "fastevlog_buffer_full_waits_total": "buffer_full_waits",
    "fastevlog_recovered_events_total": "recovered_events",
    "fastevlog_files_compressed_total": "files_compressed",
    "fastevlog_files_deleted_total": "files_deleted",
    "fastevlog_bytes_deleted_total": "bytes_deleted",
    "fastevlog_compress_failures_total": "compress_failures",
    "fastevlog_shipped_bytes_total": "shipped_bytes",
    "fastevlog_shipped_events_total": "shipped_events",
    "fastevlog_ship_publish_retries_total": "ship_publish_retries",
    "fastevlog_ship_reconnects_total": "ship_reconnects",
}
GAUGE_KEYS = {
    "fastevlog_buffer_bytes_in_use": "buffer_bytes_in_use",
    "fastevlog_buffer_bytes": "buffer_bytes",
    "fastevlog_ship_lag_bytes": "ship_lag_bytes",
}

# {(sample name, labels): value}
Samples = Dict[Tuple[str, FrozenSet[Tuple[str, str]]], float]


def _samples(text: str) -> Tuple[Samples, Dict[str, Tuple[str, str]]]:
    """The samples of an exposition, and {sample name: (family type, help)}."""
    samples: Samples = {}
    kinds = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"duplicate series {key}"
            samples[key] = sample.value
            kinds[sample.name] = (family.type, family.documentation)
    return samples, kinds


def _labels(directory, log_file="async_buffered_logs", **more) -> FrozenSet[Tuple[str, str]]:
    return frozenset({"directory": os.path.abspath(directory), "log_file": log_file, **more}.items())


def _of(samples: Samples, labels: FrozenSet[Tuple[str, str]]) -> Dict[str, float]:
    """{sample name: value} of the samples carrying exactly these labels."""
    return {name: value for (name, sample_labels), value in samples.items() if sample_labels == labels}


def _by_level(samples: Samples, labels: FrozenSet[Tuple[str, str]]) -> Dict[str, float]:
    return {dict(sample_labels)["level"]: value for (name, sample_labels), value in samples.items()
            if name == "fastevlog_events_total" and sample_labels - {("level", dict(sample_labels)["level"])}
            == labels}


def _by_id(samples: Samples, labels: FrozenSet[Tuple[str, str]]) -> Dict[str, float]:
    return {dict(sample_labels)["event_id"]: value for (name, sample_labels), value in samples.items()
            if name == "fastevlog_events_by_id_total"
            and sample_labels - {("event_id", dict(sample_labels)["event_id"])} == labels}


def _fetch(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


@pytest.fixture
def serve():
    """serve(registry) -> port: prometheus-client's own server for registry on a free loopback port."""
    servers = []

    def start(registry) -> int:
        server, thread = prometheus_client.start_http_server(0, addr="127.0.0.1", registry=registry)
        servers.append((server, thread))
        return server.server_port

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _scrape(serve, collector_kwargs) -> Samples:
    registry = prometheus_client.CollectorRegistry()
    EventLogCollector(registry=registry, **collector_kwargs)
    return _samples(_fetch(serve(registry)))[0]


def _workload(logger: EventLogCounter) -> None:
    """Five INFO, three ERROR and two WARNING events over four ids (one of them an int), flushed."""
    for i in range(5):
        logger.info(f"id_{i % 2}", "some text to fill the line", n=i)
    for _ in range(3):
        logger.error("payment_failed", amount=12.5)
    logger.warning(404, path="/x")
    logger.log(30, 404)
    logger.flush()


class TestScrapedOverHttp:
    def test_every_value_is_what_metrics_and_counts_say(self, tmp_path, serve):
        """After a known workload, each family's sample is the logger's own counter, with HELP and type."""
        # Files of 300 bytes: the workload rotates, so rotations and flushes are not 0.
        with EventLogCounter(directory=tmp_path, max_file_size=300) as logger:
            _workload(logger)
            registry = prometheus_client.CollectorRegistry()
            EventLogCollector([logger], registry=registry)
            samples, kinds = _samples(_fetch(serve(registry)))
            metrics, counts = logger.metrics(), logger.counts()
        assert metrics["rotations"] > 0 and metrics["bytes_written"] > 0
        labels = _labels(tmp_path)
        values = _of(samples, labels)
        for name, key in {**COUNTER_KEYS, **GAUGE_KEYS}.items():
            assert values[name] == metrics[key], name
        assert _by_level(samples, labels) == counts["levels"] == {"INFO": 5, "ERROR": 3, "WARNING": 2}
        for name in COUNTER_KEYS:
            assert kinds[name][0] == "counter" and kinds[name][1], name
        for name in GAUGE_KEYS:
            assert kinds[name][0] == "gauge" and kinds[name][1], name
        assert kinds["fastevlog_events_total"][0] == "counter"
        # Nothing more: every sample is one of these, and no per-id family by default.
        assert {name for name, _ in samples} == {*COUNTER_KEYS, *GAUGE_KEYS, "fastevlog_events_total"}

    def test_each_family_reads_its_own_key(self, tmp_path):
        """Every metrics() key a different number: a family reading another's key is caught, zeros too."""
        class Distinct(EventLogCounter):
            def metrics(self):
                return {key: 1000 + i for i, key in enumerate(sorted(super().metrics()))}

        with Distinct(directory=tmp_path) as logger:
            expected = logger.metrics()
            collector = EventLogCollector([logger], registry=None)
            samples, _ = _samples(prometheus_client.generate_latest(_registry_of(collector)).decode())
        values = _of(samples, _labels(tmp_path))
        for name, key in {**COUNTER_KEYS, **GAUGE_KEYS}.items():
            assert values[name] == expected[key], name

    def test_two_loggers_have_their_own_series(self, tmp_path, serve):
        """Two directories, and two log_file names in one directory: three label sets, none mixed up."""
        loggers = [EventLogCounter(directory=tmp_path / "a"), EventLogCounter(directory=tmp_path / "b"),
                   EventLogCounter(directory=tmp_path / "a", log_file="other")]
        try:
            for n, logger in enumerate(loggers, 1):
                for _ in range(n):
                    logger.error("e")
                logger.flush()
            # loggers=None: every live logger, ours among them.
            samples = _scrape(serve, {})
            for n, (logger, labels) in enumerate(zip(loggers, [
                    _labels(tmp_path / "a"), _labels(tmp_path / "b"), _labels(tmp_path / "a", "other")]), 1):
                assert _by_level(samples, labels) == {"ERROR": n}
                written = logger.metrics()["bytes_written"]
                assert _of(samples, labels)["fastevlog_bytes_written_total"] == written
        finally:
            for logger in loggers:
                logger.stop()

    def test_loggers_sharing_directory_and_log_file_are_summed(self, tmp_path, serve):
        """Two live loggers on one directory and log_file: one series holding both, not two alike."""
        first, second = EventLogCounter(directory=tmp_path), EventLogCounter(directory=str(tmp_path) + "/.")
        try:
            first.info("a")
            for _ in range(2):
                second.error("b")
            first.flush()
            second.flush()
            for kwargs in ({}, {"loggers": [first, second]}):
                samples = _scrape(serve, kwargs)
                assert _by_level(samples, _labels(tmp_path)) == {"INFO": 1, "ERROR": 2}
                assert _of(samples, _labels(tmp_path))["fastevlog_bytes_written_total"] == (
                    first.metrics()["bytes_written"] + second.metrics()["bytes_written"])
        finally:
            first.stop()
            second.stop()

    def test_the_default_logger_after_configure(self, tmp_path, serve):
        """loggers=None follows configure(): the new default logger is there, the stopped one gone."""
        try:
            fastevlog.configure(directory=tmp_path / "old")
            fastevlog.info("before")
            fastevlog.configure(directory=tmp_path / "new")
            fastevlog.warning("after")
            fastevlog.flush()
            samples = _scrape(serve, {})
        finally:
            fastevlog.stop()
        assert _by_level(samples, _labels(tmp_path / "new")) == {"WARNING": 1}
        assert _of(samples, _labels(tmp_path / "old")) == {}


def _registry_of(collector):
    registry = prometheus_client.CollectorRegistry()
    registry.register(collector)
    return registry


class TestTopEventIds:
    COUNTS = {"a": 5, "b": 3, "c": 3, "d": 1}

    def _logger(self, tmp_path):
        logger = EventLogCounter(directory=tmp_path)
        for event_id, n in self.COUNTS.items():
            for _ in range(n):
                logger.info(event_id)
        for _ in range(2):
            logger.info(7)  # an int id: the label "7", one series with the str id "7"
        logger.info("7")
        return logger

    @pytest.mark.parametrize("k, top", [
        (1, {"a": 5}),
        # Ties at 3 ("7", "b", "c") go in the order of the id's text.
        (2, {"a": 5, "7": 3}),
        (3, {"a": 5, "7": 3, "b": 3}),
        (5, {"a": 5, "7": 3, "b": 3, "c": 3, "d": 1}),
        (50, {"a": 5, "7": 3, "b": 3, "c": 3, "d": 1}),
    ])
    def test_top_k_and_the_rest_under_other(self, tmp_path, serve, k, top):
        """K series of the most frequent ids, then the rest summed; together, every event once."""
        with self._logger(tmp_path) as logger:
            samples = _scrape(serve, {"loggers": [logger], "top_event_ids": k})
            total = sum(logger.counts()["event_ids"].values())
        by_id = _by_id(samples, _labels(tmp_path))
        other = by_id.pop(OTHER_EVENT_IDS)
        assert by_id == top
        assert other == total - sum(top.values())
        assert sum(by_id.values()) + other == total == 15

    def test_series_in_order_of_count_then_text(self, tmp_path):
        """The exposition lists the top ids most frequent first, ties by text, then the rest."""
        with EventLogCounter(directory=tmp_path) as logger:
            for event_id in "xxxwwwzzyyv":  # ties above the third count (x, w) and at it (z, y)
                logger.info(event_id)
            collector = EventLogCollector([logger], registry=None, top_event_ids=3)
            (by_id,) = [family for family in collector.collect() if family.name == "fastevlog_events_by_id"]
        assert [(sample.labels["event_id"], sample.value) for sample in by_id.samples] == [
            ("w", 3), ("x", 3), ("y", 2), (OTHER_EVENT_IDS, 3)]

    def test_off_by_default(self, tmp_path, serve):
        with self._logger(tmp_path) as logger:
            samples = _scrape(serve, {"loggers": [logger]})
        assert not _by_id(samples, _labels(tmp_path))
        assert not [name for name, _ in samples if "by_id" in name]

    def test_an_id_spelled_like_other_is_counted_there(self, tmp_path, serve):
        """A user's own "__other__" id never makes a second series with that label."""
        with EventLogCounter(directory=tmp_path) as logger:
            for event_id in ["__other__"] * 4 + ["x"] * 2 + ["y"]:
                logger.info(event_id)
            samples = _scrape(serve, {"loggers": [logger], "top_event_ids": 1})
        assert _by_id(samples, _labels(tmp_path)) == {"x": 2, OTHER_EVENT_IDS: 5}

    def test_summed_across_loggers_sharing_a_series(self, tmp_path, serve):
        first, second = EventLogCounter(directory=tmp_path), EventLogCounter(directory=tmp_path)
        try:
            for event_id in "aab":
                first.info(event_id)
            for event_id in "bbc":
                second.info(event_id)
            samples = _scrape(serve, {"loggers": [first, second], "top_event_ids": 1})
        finally:
            first.stop()
            second.stop()
        assert _by_id(samples, _labels(tmp_path)) == {"b": 3, OTHER_EVENT_IDS: 3}


class TestRegistry:
    def test_default_registry_and_unregister(self, tmp_path):
        """Registered with prometheus-client's REGISTRY by default; unregister() takes it out."""
        with EventLogCounter(directory=tmp_path) as logger:
            logger.info("a")
            collector = EventLogCollector([logger])
            try:
                assert _by_level(_samples(prometheus_client.generate_latest().decode())[0],
                                 _labels(tmp_path)) == {"INFO": 1}
                # A second collector of the same families on one registry: refused, no duplicate series.
                with pytest.raises(ValueError, match="Duplicated timeseries"):
                    EventLogCollector([logger])
            finally:
                prometheus_client.REGISTRY.unregister(collector)
            assert "fastevlog_" not in prometheus_client.generate_latest().decode()

    def test_a_registry_of_its_own(self, tmp_path, serve):
        """A given registry gets it, the global one does not; registry=None registers nowhere."""
        with EventLogCounter(directory=tmp_path) as logger:
            logger.info("a")
            registry = prometheus_client.CollectorRegistry()
            collector = EventLogCollector([logger], registry=registry)
            assert "fastevlog_events_total" in _fetch(serve(registry))
            assert "fastevlog_" not in prometheus_client.generate_latest().decode()
            registry.unregister(collector)
            assert "fastevlog_" not in _fetch(serve(registry))
            loose = EventLogCollector([logger], registry=None)
            assert "fastevlog_" not in prometheus_client.generate_latest().decode()
            assert [family.name for family in loose.collect()][0] == "fastevlog_events"

    def test_describe_names_the_families_without_collecting(self, tmp_path):
        collector = EventLogCollector([], registry=None, top_event_ids=3)
        assert [family.name for family in collector.describe()] == [
            "fastevlog_events", *(name[:-len("_total")] for name in COUNTER_KEYS), *GAUGE_KEYS,
            "fastevlog_events_by_id"]
        assert all(not family.samples for family in collector.describe())


class TestStoppedLogger:
    def test_an_explicit_stopped_logger_keeps_its_final_counts(self, tmp_path, serve):
        """Given explicitly, a stopped logger reports its last counters; its buffer is gone: gauges 0."""
        logger = EventLogCounter(directory=tmp_path)
        _workload(logger)
        logger.stop()
        samples = _scrape(serve, {"loggers": [logger]})
        values, metrics = _of(samples, _labels(tmp_path)), logger.metrics()
        for name, key in COUNTER_KEYS.items():
            assert values[name] == metrics[key], name
        assert values["fastevlog_events_written_total"] == 10
        assert values["fastevlog_buffer_bytes"] == values["fastevlog_buffer_bytes_in_use"] == 0
        assert _by_level(samples, _labels(tmp_path)) == logger.counts()["levels"]

    def test_with_loggers_none_a_stopped_logger_leaves(self, tmp_path, serve):
        logger = EventLogCounter(directory=tmp_path)
        logger.info("a")
        logger.stop()
        assert _of(_scrape(serve, {}), _labels(tmp_path)) == {}


class TestParameters:
    @pytest.mark.parametrize("kwargs, error, words", [
        ({"top_event_ids": -1}, ValueError, "top_event_ids must be 0"),
        ({"top_event_ids": "10"}, TypeError, "top_event_ids must be an int"),
        ({"top_event_ids": True}, TypeError, "top_event_ids must be an int"),
        ({"pid_label": 1}, TypeError, "pid_label must be True or False"),
        ({"loggers": "logs"}, TypeError, "loggers must be None"),
        ({"loggers": [object()]}, TypeError, "loggers must hold fastevlog.EventLogCounter"),
    ])
    def test_bad_values_are_named(self, kwargs, error, words):
        with pytest.raises(error, match=re.escape(words)):
            EventLogCollector(registry=None, **kwargs)

    def test_a_single_logger_is_refused_with_the_fix(self, tmp_path):
        fix = r"loggers=\[events\]"
        with EventLogCounter(directory=tmp_path) as logger, pytest.raises(TypeError, match=fix):
            EventLogCollector(logger, registry=None)  # type: ignore[arg-type]

    def test_a_bound_logger_stands_for_its_logger(self, tmp_path):
        with EventLogCounter(directory=tmp_path) as logger:
            bound = logger.bind(user=1)
            bound.info("a")
            collector = EventLogCollector([bound, logger], registry=None)  # the same logger, once
            samples, _ = _samples(prometheus_client.generate_latest(_registry_of(collector)).decode())
        assert _by_level(samples, _labels(tmp_path)) == {"INFO": 1}


def test_import_without_prometheus_client_says_which_extra(tmp_path):
    """fastevlog imports without prometheus-client; fastevlog.prometheus says what to install."""
    code = textwrap.dedent("""
        import sys
        sys.modules["prometheus_client"] = None  # as if not installed
        import fastevlog
        try:
            import fastevlog.prometheus
        except ImportError as error:
            print(error)
    """)
    done = run_python(code, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "pip install 'fastevlog[prometheus]'" in done.stdout


def test_fastevlog_and_its_command_do_not_import_prometheus_client(tmp_path):
    code = ("import sys, fastevlog, fastevlog.cli; "
            "print(sorted(name for name in sys.modules if name.startswith('prometheus')))")
    done = run_python(code, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr


class TestSimulateMetricsPort:
    def test_serves_metrics_while_it_runs(self, tmp_path):
        """simulate --metrics-port 0: the URL on stderr, /metrics with the logger's counters growing."""
        code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                "from fastevlog.cli import main; sys.exit(main(sys.argv[1:]))")
        child = subprocess.Popen(
            [sys.executable, "-c", code, "simulate", "--events", str(10**10), "--threads", "2",
             "--dir", str(tmp_path / "logs"), "--log-file", "sim", "--no-progress", "--metrics-port", "0"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
        try:
            line = child.stderr.readline()
            url = re.fullmatch(r"metrics    (http://127\.0\.0\.1:(\d+)/metrics)\n", line)
            assert url, line
            labels = _labels(tmp_path / "logs", "sim")
            written = []
            deadline = time.monotonic() + 60
            # Two scrapes seeing events written, the second more: it serves while the events flow.
            while len(written) < 2 and time.monotonic() < deadline:
                samples, _ = _samples(_fetch(int(url.group(2))))
                value = _of(samples, labels).get("fastevlog_events_written_total", 0)
                if value and (not written or value > written[-1]):
                    written.append(value)
                time.sleep(0.05)
            assert len(written) == 2, written
            assert ("process_cpu_seconds_total", frozenset()) in samples
            child.send_signal(signal.SIGINT)
            out, err = child.communicate(timeout=60)
        finally:
            child.kill()
            child.wait()
        assert child.returncode == 130, err
        with pytest.raises(OSError):  # shut down with the command
            _fetch(int(url.group(2)))

    def test_the_server_stops_with_the_command(self, tmp_path, capsys):
        """Run in a process that goes on (a test, a script calling main()): the port is closed after."""
        status = cli.main(["simulate", "--events", "100", "--threads", "1", "--no-progress",
                           "--dir", str(tmp_path), "--metrics-port", "0"])
        err = capsys.readouterr().err
        assert status == 0, err
        port = int(re.search(r"^metrics    http://127\.0\.0\.1:(\d+)/metrics$", err, re.MULTILINE).group(1))
        with pytest.raises(OSError):
            _fetch(port)

    def test_a_port_in_use_names_the_flag(self, tmp_path, capsys):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            status = cli.main(["simulate", "--events", "10", "--no-progress", "--dir", str(tmp_path / "logs"),
                               "--metrics-port", str(port)])
        err = capsys.readouterr().err
        assert status == 1
        assert f"fastevlog: --metrics-port {port} on --metrics-address 127.0.0.1: " in err
        assert "choose another port" in err
        assert not (tmp_path / "logs").exists()  # refused before the logger started

    def test_without_prometheus_client_says_what_to_install(self, tmp_path, capsys, monkeypatch):
        monkeypatch.setitem(sys.modules, "prometheus_client", None)
        monkeypatch.delitem(sys.modules, "fastevlog.prometheus")
        status = cli.main(["simulate", "--events", "10", "--no-progress", "--dir", str(tmp_path),
                           "--metrics-port", "0"])
        assert status == 1
        assert ("fastevlog: --metrics-port needs prometheus-client: pip install 'fastevlog[prometheus]'"
                in capsys.readouterr().err)

    @pytest.mark.parametrize("flags, words", [
        (["--metrics-port", "65536"], "argument --metrics-port: must be a TCP port, 0 to 65535, not 65536"),
        (["--metrics-port", "-1"], "argument --metrics-port: must be at least 0, not -1"),
        (["--metrics-port", "0", "--noop"], "--metrics-port has no logger to report on with --noop"),
    ])
    def test_bad_flags(self, tmp_path, capsys, flags, words):
        with pytest.raises(SystemExit) as exit:
            cli.main(["simulate", "--events", "10", "--no-progress", "--dir", str(tmp_path), *flags])
        assert exit.value.code == 2
        assert words in capsys.readouterr().err


# Forking while the loggers' threads run is what the multi-process test does; Python 3.12+ warns.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")
def test_multi_process_textfiles(tmp_path):
    """The README's recipe for several processes: each forked worker writes its own textfile, with its
    pid as a label; together they hold each worker's own counts, and no series twice."""
    textfiles = tmp_path / "textfile_collector"
    textfiles.mkdir()
    registry = prometheus_client.CollectorRegistry()
    EventLogCollector(registry=registry, pid_label=True)  # before the fork, as with gunicorn --preload
    parent = EventLogCounter(directory=tmp_path / "logs")
    parent.info("in_the_parent")  # a child's counts restart at 0: this is never in a child's file
    children = {}
    try:
        for worker in range(3):
            pid = os.fork()
            if pid == 0:
                status = 1
                try:
                    for _ in range(worker + 1):
                        parent.error("in_a_child")  # the child's own restarted logger
                    parent.flush()
                    path = textfiles / f"fastevlog_{os.getpid()}.prom"
                    prometheus_client.write_to_textfile(str(path), registry)
                    status = 0
                finally:
                    os._exit(status)
            children[pid] = worker + 1
        for pid in children:
            assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    finally:
        parent.stop()
    files = sorted(textfiles.glob("*.prom"))
    assert [path.name for path in files] == sorted(f"fastevlog_{pid}.prom" for pid in children)
    # node_exporter's textfile collector serves all files as one exposition: no series may repeat.
    samples, _ = _samples("".join(path.read_text() for path in files))
    for pid, errors in children.items():
        labels = _labels(tmp_path / "logs", pid=str(pid))
        assert _by_level(samples, labels) == {"ERROR": errors}
        assert _of(samples, labels)["fastevlog_events_written_total"] == errors
    assert {dict(labels)["pid"] for _, labels in samples} == {str(pid) for pid in children}


def test_readme_recipe_matches_this_test():
    """The README shows the recipe test_multi_process_textfiles runs."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert "EventLogCollector(registry=registry, pid_label=True)" in readme
    assert "prometheus_client.write_to_textfile(" in readme


def test_collection_is_safe_while_threads_log(tmp_path):
    """Scrapes while threads log: each sees counts that only grow, and the end matches counts()."""
    with EventLogCounter(directory=tmp_path) as logger:
        collector = EventLogCollector([logger], registry=None)
        registry = _registry_of(collector)
        stop = threading.Event()

        def produce():
            while not stop.is_set():
                logger.info("busy")

        threads = [threading.Thread(target=produce) for _ in range(2)]
        for thread in threads:
            thread.start()
        seen = []
        try:
            for _ in range(50):
                samples, _ = _samples(prometheus_client.generate_latest(registry).decode())
                seen.append(_by_level(samples, _labels(tmp_path)).get("INFO", 0))
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert seen == sorted(seen) and seen[-1] > 0
        samples, _ = _samples(prometheus_client.generate_latest(registry).decode())
        assert _by_level(samples, _labels(tmp_path)) == logger.counts()["levels"]
