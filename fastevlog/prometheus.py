"""Prometheus metrics of fastevlog loggers: a collector for prometheus-client's registry.

    from fastevlog.prometheus import EventLogCollector
    EventLogCollector()                      # every live logger, on prometheus_client's REGISTRY
    prometheus_client.start_http_server(9100)   # your server, as you serve your other metrics

A collection reads the counters the loggers keep anyway (metrics() and the
counts by level); it takes no lock the logging calls take and adds nothing to them.
"""

from __future__ import annotations

import heapq
import os
import weakref
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

try:
    from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import CollectorRegistry
    from prometheus_client.samples import Sample
except ModuleNotFoundError as _error:
    if not (_error.name or "").startswith("prometheus_client"):
        raise
    raise ImportError("fastevlog.prometheus needs prometheus-client, which fastevlog's extra installs: "
                      "pip install 'fastevlog[prometheus]'", name=_error.name) from _error

from ._core import BoundLogger
from ._logger import EventLogCounter, live_loggers

__all__ = ["OTHER_EVENT_IDS", "EventLogCollector"]

# The event_id label value of the ids outside the top K; an id spelled the same is counted there too,
# so that no two series of one logger carry the same labels.
OTHER_EVENT_IDS = "__other__"

# (family name, metrics() key, help): counters, whose values only grow while a logger runs.
_COUNTERS = (
    ("fastevlog_events_written_total", "events_written", "Events whose bytes are in a log file."),
    ("fastevlog_bytes_written_total", "bytes_written", "Bytes written to log files."),
    ("fastevlog_flushes_total", "flushes", "Sealed buffer segments handed to the writers."),
    ("fastevlog_rotations_total", "rotations", "Log files closed for size or time."),
    ("fastevlog_write_failures_total", "write_failures", "Failed write attempts."),
    ("fastevlog_write_retries_total", "retries", "Write attempts repeated after a failure."),
    ("fastevlog_events_dropped_total", "dropped",
     "Events dropped because the buffer was full (on_full='drop')."),
    ("fastevlog_buffer_full_waits_total", "buffer_full_waits",
     "Times a producer found the buffer full and waited for the writers (on_full='block')."),
    ("fastevlog_recovered_events_total", "recovered_events",
     "Lines recovery wrote at start from buffer files of dead processes."),
    ("fastevlog_files_compressed_total", "files_compressed", "Closed log files compressed."),
    ("fastevlog_files_deleted_total", "files_deleted", "Closed log files deleted by retention."),
    ("fastevlog_bytes_deleted_total", "bytes_deleted",
     "Bytes on disk of the log files deleted by retention."),
    ("fastevlog_compress_failures_total", "compress_failures",
     "Compressions that failed; the original is kept and tried again later."),
    ("fastevlog_shipped_bytes_total", "shipped_bytes", "Bytes of log files acked by the JetStream stream."),
    ("fastevlog_shipped_events_total", "shipped_events", "Lines of log files acked by the JetStream stream."),
    ("fastevlog_ship_publish_retries_total", "ship_publish_retries",
     "Chunks published again after a failure or a missing ack."),
    ("fastevlog_ship_reconnects_total", "ship_reconnects", "Reconnections of the shipper to NATS."),
)
_GAUGES = (
    ("fastevlog_buffer_bytes_in_use", "buffer_bytes_in_use", "Bytes in the buffer not yet written."),
    ("fastevlog_buffer_bytes", "buffer_bytes",
     "Capacity of the buffer: buffer_bytes rounded down to whole segments (0 once stopped)."),
    ("fastevlog_ship_lag_bytes", "ship_lag_bytes",
     "Bytes written to log files and not yet acked by the JetStream stream, at the shipper's last look."),
)
_EVENTS = ("fastevlog_events_total", "Events accepted into the buffer, by level.")
_EVENTS_BY_ID = ("fastevlog_events_by_id_total",
                 f"Events accepted, for the top event ids by count; the others under {OTHER_EVENT_IDS}.")

_LOGGER_LABELS = ("directory", "log_file")
# A series: the logger labels' values (and the pid's, with pid_label).
_SeriesKey = Tuple[str, ...]


class _Series:
    """What the loggers sharing one directory and log_file add up to."""

    __slots__ = ("values", "levels", "event_ids")

    def __init__(self, values: Dict[str, int], levels: Dict[str, int], event_ids: Dict[str, int]) -> None:
        self.values = values  # metrics()' keys
        self.levels = levels
        self.event_ids = event_ids  # only with top_event_ids

    def add(self, other: _Series) -> None:
        for into, more in ((self.values, other.values), (self.levels, other.levels),
                           (self.event_ids, other.event_ids)):
            for key, value in more.items():
                into[key] = into.get(key, 0) + value


class _Families:
    """The metric families of one collection, each labelled with label_names (and its own label).

    Samples are appended directly, each series' labels one dict shared by its
    samples: add_metric() builds a dict per sample, which made up most of a
    collection's time (benchmarks/metrics_collection.py).
    """

    def __init__(self, label_names: Tuple[str, ...], top_event_ids: int) -> None:
        labels = list(label_names)
        self.events = CounterMetricFamily(*_EVENTS, labels=labels + ["level"])
        self.counters = [CounterMetricFamily(name, text, labels=labels) for name, _, text in _COUNTERS]
        self.gauges = [GaugeMetricFamily(name, text, labels=labels) for name, _, text in _GAUGES]
        self.by_id = (CounterMetricFamily(*_EVENTS_BY_ID, labels=labels + ["event_id"])
                      if top_event_ids else None)
        # (the family's samples, the sample's name, the metrics() key) for one sample per series
        self._plain = [(family.samples, family.name + "_total", key)
                       for family, (_, key, _) in zip(self.counters, _COUNTERS)]
        self._plain += [(family.samples, family.name, key)
                        for family, (_, key, _) in zip(self.gauges, _GAUGES)]

    def add(self, labels: Dict[str, str], series: _Series, top_event_ids: int) -> None:
        """The samples of one series."""
        name, samples = self.events.name + "_total", self.events.samples
        for level, count in series.levels.items():
            samples.append(Sample(name, {**labels, "level": level}, count))
        values = series.values
        for samples, name, key in self._plain:
            samples.append(Sample(name, labels, values[key]))
        if self.by_id is not None:
            name, samples = self.by_id.name + "_total", self.by_id.samples
            for event_id, count in _top(series.event_ids, top_event_ids):
                samples.append(Sample(name, {**labels, "event_id": event_id}, count))

    def all(self) -> List[Metric]:
        families: List[Metric] = [self.events, *self.counters, *self.gauges]
        if self.by_id is not None:
            families.append(self.by_id)
        return families


class EventLogCollector:
    """A prometheus-client collector of the counters of fastevlog loggers.

    Each logger's series carry the labels ``directory`` (absolute) and
    ``log_file``.  Loggers alive at the same time with the same directory and
    log_file (configure() replacing the default logger, two threads' loggers)
    are summed into one series; when one of them stops and leaves, the sum
    falls, which Prometheus takes for a counter reset (rate() and increase()
    handle it).

    Args:
        loggers: None (the default): every logger not stopped, at each
            collection (fastevlog's default logger included, and the one
            configure() puts in its place).  Otherwise an iterable of
            EventLogCounter (or BoundLogger, standing for its logger), held
            for the collector's life: a stopped one keeps reporting its final
            counters, with its buffer gauges at 0.
        registry: the registry to register with (prometheus-client's REGISTRY
            by default), or None to register nowhere.  Unregister with
            ``registry.unregister(collector)``.
        top_event_ids: 0 (the default) for no per-id series.  K > 0 adds
            ``fastevlog_events_by_id_total{event_id}`` for the K ids with the
            most events (ties: the id's text in order), and the sum of the
            other ids under ``event_id="__other__"``.  Int ids become their str.
        pid_label: add the label ``pid`` (the process's id at collection time),
            for several processes writing the same directory whose metrics meet
            in one place (see the README, multi-process servers).

    Raises:
        TypeError: loggers holds something other than a logger, or
            top_event_ids or pid_label is of the wrong type.
        ValueError: top_event_ids is negative.
    """

    def __init__(
        self,
        loggers: Optional[Iterable[Union[EventLogCounter, BoundLogger]]] = None,
        *,
        registry: Optional[CollectorRegistry] = REGISTRY,
        top_event_ids: int = 0,
        pid_label: bool = False,
    ) -> None:
        self._loggers = None if loggers is None else _check_loggers(loggers)
        if isinstance(top_event_ids, bool) or not isinstance(top_event_ids, int):
            raise TypeError(f"top_event_ids must be an int (0 for no per-id series), "
                            f"not {type(top_event_ids).__name__}")
        if top_event_ids < 0:
            raise ValueError(f"top_event_ids must be 0 (no per-id series) or the number of ids to "
                             f"report, not {top_event_ids}")
        if not isinstance(pid_label, bool):
            raise TypeError(f"pid_label must be True or False, not {type(pid_label).__name__}")
        self._top_event_ids = top_event_ids
        self._label_names: Tuple[str, ...] = _LOGGER_LABELS + (("pid",) if pid_label else ())
        # A relative directory is made absolute once, against the working directory when the
        # collector first meets the logger, so a later chdir() does not split its series.
        self._labels_of: weakref.WeakKeyDictionary[EventLogCounter, Tuple[str, str]] = (
            weakref.WeakKeyDictionary())
        if registry is not None:
            registry.register(self)

    def describe(self) -> List[Metric]:
        """The families collect() yields, without samples: the registry checks names with it."""
        return _Families(self._label_names, self._top_event_ids).all()

    def collect(self) -> Iterator[Metric]:
        """The families, with one sample per series (and level, and event id)."""
        families = _Families(self._label_names, self._top_event_ids)
        for labels, series in self._series().items():
            families.add(dict(zip(self._label_names, labels)), series, self._top_event_ids)
        return iter(families.all())

    def _series(self) -> Dict[_SeriesKey, _Series]:
        """Every logger's counters, summed per series."""
        loggers = list(live_loggers) if self._loggers is None else self._loggers
        pid = (str(os.getpid()),) if "pid" in self._label_names else ()
        result: Dict[_SeriesKey, _Series] = {}
        for logger in loggers:
            # metrics() and the level counts read counters; neither takes a lock log() takes.
            values = logger.metrics()
            if logger._stopped:
                values["buffer_bytes"] = 0  # its buffer is unmapped
            event_ids = _as_labels(logger.counts()["event_ids"]) if self._top_event_ids else {}
            series = _Series(values, logger._level_counts_by_name(), event_ids)
            key = self._logger_labels(logger) + pid
            if key in result:
                result[key].add(series)
            else:
                result[key] = series
        return result

    def _logger_labels(self, logger: EventLogCounter) -> Tuple[str, str]:
        labels = self._labels_of.get(logger)
        if labels is None:
            directory, log_file = logger._files_parameters[:2]
            labels = self._labels_of[logger] = (os.path.abspath(directory.path), log_file)
        return labels


def _check_loggers(loggers: object) -> List[EventLogCounter]:
    """loggers as a list of EventLogCounter, or a TypeError naming what is not one."""
    if isinstance(loggers, (EventLogCounter, BoundLogger)):
        raise TypeError("loggers must be an iterable of loggers (or None for every live logger): "
                        "wrap a single logger in a list, loggers=[events]")
    if isinstance(loggers, (str, bytes)) or not isinstance(loggers, Iterable):
        raise TypeError(f"loggers must be None (every live logger) or an iterable of "
                        f"fastevlog.EventLogCounter, not {type(loggers).__name__}")
    result = []
    for logger in loggers:
        if isinstance(logger, BoundLogger):
            logger = logger.logger
        if not isinstance(logger, EventLogCounter):
            raise TypeError(f"loggers must hold fastevlog.EventLogCounter (or BoundLogger) objects, "
                            f"not {type(logger).__name__}")
        if logger not in result:  # the same logger twice would count twice
            result.append(logger)
    return result


def _as_labels(event_ids: Dict[Any, int]) -> Dict[str, int]:
    """counts()["event_ids"] (a dict of the caller's own) keyed by label value: an int id becomes its str."""
    if all(type(event_id) is str for event_id in event_ids):  # the usual case, at half the cost of a copy
        return event_ids
    labels = {str(event_id): count for event_id, count in event_ids.items()}
    if len(labels) < len(event_ids):  # 7 and "7" both: one label value, so their counts are summed
        labels = {}
        for event_id, count in event_ids.items():
            labels[str(event_id)] = labels.get(str(event_id), 0) + count
    return labels


def _by_count_then_text(item: Tuple[str, int]) -> Tuple[int, str]:
    return -item[1], item[0]


def _top(event_ids: Dict[str, int], k: int) -> List[Tuple[str, int]]:
    """The k ids with the most events (ties by text), then OTHER_EVENT_IDS with the rest (0 when none).

    Takes OTHER_EVENT_IDS out of event_ids, which the caller owns.
    """
    total = sum(event_ids.values())
    event_ids.pop(OTHER_EVENT_IDS, None)
    if len(event_ids) <= k:
        top = sorted(event_ids.items(), key=_by_count_then_text)
    else:
        # Sorted in C, without a key per id: the k-th largest count, the ids above it (fewer than k),
        # and as many of the ids tied at it as there is room for, by text.
        least = heapq.nlargest(k, event_ids.values())[-1]
        top = sorted([item for item in event_ids.items() if item[1] > least], key=_by_count_then_text)
        tied = heapq.nsmallest(k - len(top), [event_id for event_id, count in event_ids.items()
                                              if count == least])
        top += [(event_id, least) for event_id in tied]
    return top + [(OTHER_EVENT_IDS, total - sum(count for _, count in top))]
