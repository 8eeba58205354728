"""Bound loggers (src/bound.pxi): fields given once to bind(), in every event the bound logger logs."""

import threading

import pytest
from reference import assert_same_line, reference_line
from support import log_paths, read_events

import fastevlog
from fastevlog import EventLogCounter, LoggerStoppedError


def lines(directory):
    return b"".join(path.read_bytes() for path in log_paths(directory)).splitlines(keepends=True)


def test_bound_fields_come_after_the_message_and_before_the_calls_own(tmp_path):
    with EventLogCounter(directory=tmp_path) as logger:
        bound = logger.bind(request_id="r-17", user=42)
        bound.info("login", "User logged in.", attempt=2)
        bound.log("warning", "slow", took=1.5)
        bound.debug(7)
        bound.error("e", None, ok=False)
        bound.critical("c", "m")
        bound.exception("x")  # outside an except: no exception field
    context = {"request_id": "r-17", "user": 42}
    expected = [
        reference_line("INFO", "login", "User logged in.", {**context, "attempt": 2}),
        reference_line("WARNING", "slow", None, {**context, "took": 1.5}),
        reference_line("DEBUG", 7, None, context),
        reference_line("ERROR", "e", None, {**context, "ok": False}),
        reference_line("CRITICAL", "c", "m", context),
        reference_line("ERROR", "x", None, context),
    ]
    actual = lines(tmp_path)
    assert len(actual) == len(expected)
    for line, reference in zip(actual, expected):
        assert_same_line(line, reference)


def test_binds_nest_and_a_later_field_replaces_an_earlier_one(tmp_path):
    with EventLogCounter(directory=tmp_path) as logger:
        request = logger.bind(request_id="r-1", step="start")
        payment = request.bind(step="pay", amount=10)
        payment.info("a")
        request.info("b")                        # the parent is unchanged
        payment.info("c", step="refund")         # the call's field replaces the bound one, in its place
        payment.info("d", amount=None, step="x", extra=[1])
        payment.log_many("INFO", ["e", "f"], step=["s1", "s2"])
    events = read_events(tmp_path)
    assert [list(e.items())[3:] for e in events] == [
        [("request_id", "r-1"), ("step", "pay"), ("amount", 10)],
        [("request_id", "r-1"), ("step", "start")],
        [("request_id", "r-1"), ("amount", 10), ("step", "refund")],
        [("request_id", "r-1"), ("amount", None), ("step", "x"), ("extra", [1])],
        [("request_id", "r-1"), ("amount", 10), ("step", "s1")],
        [("request_id", "r-1"), ("amount", 10), ("step", "s2")],
    ]


def test_a_replaced_field_given_through_a_dict_of_keywords(tmp_path):
    # Keyword names built at run time are not interned: they must still replace the bound field.
    name = "".join(["us", "er"])
    with EventLogCounter(directory=tmp_path) as logger:
        logger.bind(user=1).info("a", **{name: 2})
    [line] = lines(tmp_path)
    assert line.count(b'"user":') == 1 and line.endswith(b',"user":2}\n')  # json.loads would keep the last


def test_bound_values_are_encoded_at_bind(tmp_path):
    tags = ["a"]

    class Counter:
        calls = 0

        def __str__(self):
            Counter.calls += 1
            return f"counter {Counter.calls}"

    with EventLogCounter(directory=tmp_path) as logger:
        bound = logger.bind(tags=tags, counter=Counter(), big=2**70, ratio=0.1, nothing=None)
        tags.append("b")  # too late: the fields were encoded by bind()
        for i in range(3):
            bound.info("e", i=i)
    assert Counter.calls == 1
    for event in read_events(tmp_path):
        assert event["counter"] == "counter 1" and event["big"] == 2**70 and event["ratio"] == 0.1
        assert event["nothing"] is None
        assert event["tags"] == ["a"]


def test_bound_logger_log_many_writes_the_fields_in_every_row(tmp_path):
    with EventLogCounter(directory=tmp_path) as logger:
        bound = logger.bind(host="h1")
        bound.log_many("INFO", [f"e{i}" for i in range(5000)], None, n=list(range(5000)))
        bound.log_many(["DEBUG", "ERROR"], ["a", "b"], ["m1", "m2"])
    events = read_events(tmp_path)
    assert len(events) == 5002
    assert all(list(e.items())[3:5] == [("host", "h1"), ("n", i)] for i, e in enumerate(events[:5000]))
    assert [list(e.items())[2:] for e in events[5000:]] == [
        [("event_id", "a"), ("message", "m1"), ("host", "h1")],
        [("event_id", "b"), ("message", "m2"), ("host", "h1")]]


def test_many_and_large_bound_fields(tmp_path):
    many = {f"k{i}": i for i in range(40)}
    large = "x" * (3 * 1024 * 1024)  # the line is longer than a segment
    with EventLogCounter(directory=tmp_path) as logger:
        logger.bind(**many).info("many", **{f"c{i}": i for i in range(20)})
        logger.bind(large=large).info("large", "m")
        logger.bind(large=large).log_many("INFO", ["large rows"] * 2)
    events = read_events(tmp_path)
    assert list(events[0].items())[3:] == [*many.items(), *((f"c{i}", i) for i in range(20))]
    assert [e["large"] == large for e in events[1:]] == [True] * 3


@pytest.mark.parametrize("name", ["timestamp", "level", "event_id", "message", "exc_info", "stack_info"])
def test_bind_refuses_the_lines_own_keys_and_the_parameters(tmp_path, name):
    with EventLogCounter(directory=tmp_path) as logger:
        with pytest.raises(ValueError, match=f'bind\\(\\): "{name}" is written by the logger'):
            logger.bind(**{name: 1})
        with pytest.raises(ValueError, match=f'"{name}"'):
            logger.bind(ok=1).bind(**{name: 1})
        logger.info("after")
    assert [e["event_id"] for e in read_events(tmp_path)] == ["after"]


def test_a_value_whose_str_fails_fails_bind(tmp_path):
    class Broken:
        def __str__(self):
            raise RuntimeError("no str")

    with EventLogCounter(directory=tmp_path) as logger:
        with pytest.raises(RuntimeError, match="no str"):
            logger.bind(ok=1, broken=Broken())
        logger.info("after")
    assert len(read_events(tmp_path)) == 1


def test_a_bound_logger_of_a_stopped_logger_raises(tmp_path):
    logger = EventLogCounter(directory=tmp_path)
    bound = logger.bind(a=1)
    bound.info("before")
    logger.stop()
    with pytest.raises(LoggerStoppedError):
        bound.info("after")
    with pytest.raises(LoggerStoppedError):
        bound.log_many("INFO", ["after"])
    assert [e["event_id"] for e in read_events(tmp_path)] == ["before"]
    assert bound.logger is logger and bound.fields == {"a": 1}
    assert "a" in repr(bound) and "BoundLogger" in repr(bound)


def test_bound_loggers_share_the_counts_and_threads(tmp_path):
    with EventLogCounter(directory=tmp_path) as logger:
        def run(n):
            bound = logger.bind(thread=n)
            for i in range(2000):
                bound.info(f"e{i % 10}", i=i)

        threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        counts = logger.counts()
    events = read_events(tmp_path)
    assert counts["levels"] == {"INFO": 16000}
    assert sorted((e["thread"], e["i"]) for e in events) == [(n, i) for n in range(8) for i in range(2000)]


def test_module_level_bind_and_level_functions(tmp_path):
    fastevlog.configure(directory=tmp_path)
    try:
        bound = fastevlog.bind(service="api")
        bound.info("a")
        fastevlog.debug("b", n=1)
        fastevlog.info("c")
        fastevlog.warning("d", "m")
        fastevlog.error("e")
        fastevlog.critical("f")
    finally:
        fastevlog.stop()
    assert [(e["level"], e["event_id"]) for e in read_events(tmp_path)] == [
        ("INFO", "a"), ("DEBUG", "b"), ("INFO", "c"), ("WARNING", "d"), ("ERROR", "e"), ("CRITICAL", "f")]
    assert read_events(tmp_path)[0]["service"] == "api"
