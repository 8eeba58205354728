"""structlog through fastevlog (fastevlog/_structlog.py): each event one line, read back from the files."""

import asyncio
import json
import logging
import threading

import pytest
import structlog
from support import read_events, run_python

import fastevlog
from fastevlog import EventLogCounter


@pytest.fixture(autouse=True)
def structlog_defaults():
    """Each test configures structlog itself; none leaves its configuration or context behind."""
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def configure(logger, processors=(), min_level=logging.DEBUG, **options):
    structlog.configure(processors=list(processors), logger_factory=fastevlog.structlog_factory(logger),
                        wrapper_class=structlog.make_filtering_bound_logger(min_level), **options)


def without_timestamp(event):
    """The line's keys and values after its own timestamp, in order."""
    assert list(event)[0] == "timestamp"
    return list(event.items())[1:]


def test_an_event_is_one_line_with_the_bound_context_and_the_calls_fields(tmp_path):
    with EventLogCounter(directory=tmp_path) as events:
        configure(events, [structlog.contextvars.merge_contextvars])
        structlog.contextvars.bind_contextvars(request_id="r-17")
        log = structlog.get_logger().bind(user=42)
        log.info("user_login", attempt=2, order={"id": 17, "items": ["pen", {"ink": None}]})
        log.bind(step="pay").warning(7, amount=12.5)       # an int event id stays an int
        log.info("user_logout", user=43)                    # the call's field replaces the bound one
    assert [without_timestamp(event) for event in read_events(tmp_path)] == [
        # merge_contextvars adds the context variables after the event's own keys
        [("level", "INFO"), ("event_id", "user_login"), ("user", 42), ("attempt", 2),
         ("order", {"id": 17, "items": ["pen", {"ink": None}]}), ("request_id", "r-17")],
        [("level", "WARNING"), ("event_id", 7), ("user", 42), ("step", "pay"), ("amount", 12.5),
         ("request_id", "r-17")],
        [("level", "INFO"), ("event_id", "user_logout"), ("user", 43), ("request_id", "r-17")],
    ]
    assert events.counts()["event_ids"] == {"user_login": 1, 7: 1, "user_logout": 1}


def test_the_level_is_the_methods(tmp_path):
    with EventLogCounter(directory=tmp_path) as events:
        configure(events, min_level=logging.INFO)
        log = structlog.get_logger()
        log.debug("filtered")                              # below the filtering logger's INFO
        for method in ("info", "msg", "warning", "warn", "error", "critical", "fatal"):
            getattr(log, method)(method)
        log.log(logging.ERROR, "log_error")
        # structlog's generic BoundLogger passes any method name through, exception and msg included
        structlog.configure(wrapper_class=structlog.BoundLogger)
        generic = structlog.get_logger()
        for method in ("debug", "msg", "warn", "err", "fatal"):      # the aliases reach fastevlog as they are
            getattr(generic, method)(f"generic_{method}")
        generic.exception("generic_exception")           # outside an except: no exception to write
    assert [(event["level"], event["event_id"]) for event in read_events(tmp_path)] == [
        ("INFO", "info"), ("INFO", "msg"), ("WARNING", "warning"), ("WARNING", "warn"), ("ERROR", "error"),
        ("CRITICAL", "critical"), ("CRITICAL", "fatal"), ("ERROR", "log_error"),
        ("DEBUG", "generic_debug"), ("INFO", "generic_msg"), ("WARNING", "generic_warn"),
        ("ERROR", "generic_err"), ("CRITICAL", "generic_fatal"), ("ERROR", "generic_exception"),
    ]


def test_exception_logs_at_error_with_the_exception_being_handled(tmp_path):
    with EventLogCounter(directory=tmp_path) as events:
        configure(events)
        log = structlog.get_logger().bind(order=17)
        try:
            raise ValueError("card expired")
        except ValueError as error:
            log.exception("payment_failed", amount=3)
            log.warning("payment_retried", exc_info=True)
            caught = error
        log.error("payment_lost", exc_info=caught)       # an exception instance, outside the except
        structlog.configure(wrapper_class=structlog.BoundLogger)
        try:
            raise KeyError("card")
        except KeyError:
            structlog.get_logger().exception("generic_exception")
    failed, retried, lost, generic = read_events(tmp_path)
    assert [(e["level"], e["event_id"]) for e in (failed, retried, lost, generic)] == [
        ("ERROR", "payment_failed"), ("WARNING", "payment_retried"), ("ERROR", "payment_lost"),
        ("ERROR", "generic_exception")]
    for event in (failed, retried, lost):
        assert event["exception"]["type"] == "ValueError"
        assert event["exception"]["message"] == "card expired"
        assert event["exception"]["traceback"].startswith("Traceback (most recent call last):")
        assert 'raise ValueError("card expired")' in event["exception"]["traceback"]
        assert event["order"] == 17
    assert failed["amount"] == 3
    assert "exc_info" not in failed
    assert generic["exception"]["type"] == "KeyError"


def test_async_methods_write_from_structlogs_executor_thread(tmp_path):
    """ainfo() and aexception() run the chain on another thread: the exception comes from the call."""
    async def work(log):
        await log.ainfo("async_event", n=1)
        try:
            raise ValueError("async failure")
        except ValueError:
            await log.aexception("async_failed")

    with EventLogCounter(directory=tmp_path) as events:
        configure(events)
        asyncio.run(work(structlog.get_logger()))
    event, failed = read_events(tmp_path)
    assert without_timestamp(event) == [("level", "INFO"), ("event_id", "async_event"), ("n", 1)]
    assert (failed["level"], failed["exception"]["message"]) == ("ERROR", "async failure")


def test_add_log_level_is_dropped_and_a_timestamp_kept_renamed(tmp_path):
    with EventLogCounter(directory=tmp_path) as events:
        configure(events, [structlog.processors.add_log_level,
                           structlog.processors.TimeStamper(fmt="iso", utc=True)])
        log = structlog.get_logger()
        log.warning("a")
        try:
            raise ValueError("x")
        except ValueError:
            log.exception("b")                           # add_log_level writes "error": the line's level
        configure(events)
        log = structlog.get_logger()
        log.info("c", level="urgent", timestamp=1.5)     # the caller's own: kept, renamed
        log.info("d", level="INFO")                      # the same as the line's: dropped
    a, b, c, d = read_events(tmp_path)
    assert [key for key in a if key != "timestamp_"] == ["timestamp", "level", "event_id"]
    assert a["level"] == "WARNING"
    assert a["timestamp_"].endswith("Z") and a["timestamp_"][:10] == a["timestamp"][:10]
    assert (b["level"], "level_" in b, b["exception"]["type"]) == ("ERROR", False, "ValueError")
    assert without_timestamp(c) == [("level", "INFO"), ("event_id", "c"), ("level_", "urgent"),
                                    ("timestamp_", 1.5)]
    assert without_timestamp(d) == [("level", "INFO"), ("event_id", "d")]


def test_format_exc_info_text_is_kept_beside_the_exception_field(tmp_path):
    with EventLogCounter(directory=tmp_path) as events:
        configure(events)
        log = structlog.get_logger()
        try:
            raise ValueError("x")
        except ValueError:
            log.error("e", exc_info=True, exception="the caller's")
        configure(events, [structlog.processors.format_exc_info])
        try:
            raise ValueError("y")
        except ValueError:
            structlog.get_logger().exception("f")
    e, f = read_events(tmp_path)
    assert (e["exception"]["message"], e["exception_"]) == ("x", "the caller's")
    assert f["exception"].startswith("Traceback") and f["exception"].endswith("ValueError: y")


def test_event_id_given_makes_the_event_the_message(tmp_path):
    with EventLogCounter(directory=tmp_path) as events:
        configure(events)
        log = structlog.get_logger()
        log.info("User logged in.", event_id="user_login", user=42)
        log.info("Paid.", event_id=3, message="payment done")   # a message given too: the event is a field
        log.info("Hello %s.", "Ann", event_id="greeting")         # structlog interpolates the args
        log.info("user_logout", message="User logged out.")       # message= without event_id=
    assert [without_timestamp(event) for event in read_events(tmp_path)] == [
        [("level", "INFO"), ("event_id", "user_login"), ("message", "User logged in."), ("user", 42)],
        [("level", "INFO"), ("event_id", 3), ("message", "payment done"), ("event", "Paid.")],
        [("level", "INFO"), ("event_id", "greeting"), ("message", "Hello Ann.")],
        [("level", "INFO"), ("event_id", "user_logout"), ("message", "User logged out.")],
    ]


def test_stack_info_writes_the_callers_stack(tmp_path):
    with EventLogCounter(directory=tmp_path) as events:
        configure(events)
        structlog.get_logger().info("checkpoint", stack_info=True)
    [event] = read_events(tmp_path)
    assert event["stack"].startswith("Stack (most recent call last):")
    assert "test_stack_info_writes_the_callers_stack" in event["stack"]
    assert "stack_info" not in event


@pytest.mark.parametrize("renderer", [structlog.processors.JSONRenderer(), structlog.dev.ConsoleRenderer(),
                                      structlog.processors.KeyValueRenderer()])
def test_a_chain_ending_in_a_renderer_is_refused_with_what_to_change(tmp_path, renderer):
    with EventLogCounter(directory=tmp_path) as events:
        configure(events, [structlog.processors.add_log_level, renderer])
        with pytest.raises(TypeError, match="remove the renderer from processors="):
            structlog.get_logger().info("user_login", user_id=42)
        # a final (args, kwargs) tuple with args: the same text
        configure(events, [lambda logger, method, event_dict: (("text",), {})])
        with pytest.raises(TypeError, match="remove the renderer"):
            structlog.get_logger().info("user_login")
        # (no args, kwargs) is an event dict by another name
        configure(events, [lambda logger, method, event_dict: ((), event_dict)])
        structlog.get_logger().info("tuple_event", n=1)
    assert [without_timestamp(event) for event in read_events(tmp_path)] == [
        [("level", "INFO"), ("event_id", "tuple_event"), ("n", 1)]]


def test_an_event_dict_without_an_event_is_refused(tmp_path):
    with EventLogCounter(directory=tmp_path) as events:
        configure(events, [lambda logger, method, event_dict: {"user": 42}])
        with pytest.raises(TypeError, match="needs an event"):
            structlog.get_logger().info("dropped_by_the_processor")
    assert read_events(tmp_path) == []


def test_no_logger_writes_to_the_default_logger_of_the_moment(tmp_path):
    """cache_logger_on_first_use keeps structlog's logger: it still follows fastevlog.configure()."""
    try:
        fastevlog.configure(directory=tmp_path / "first")
        configure(None, cache_logger_on_first_use=True)
        log = structlog.get_logger()
        log.info("one")
        fastevlog.configure(directory=tmp_path / "second")
        log.info("two")
        structlog.get_logger().info("three")
    finally:
        fastevlog.stop()
    assert [event["event_id"] for event in read_events(tmp_path / "first")] == ["one"]
    assert [event["event_id"] for event in read_events(tmp_path / "second")] == ["two", "three"]


def test_a_bound_fastevlog_logger_adds_its_fields(tmp_path):
    with EventLogCounter(directory=tmp_path) as events:
        configure(events.bind(service="api"))
        structlog.get_logger().info("started", port=8080)
    assert [without_timestamp(event) for event in read_events(tmp_path)] == [
        [("level", "INFO"), ("event_id", "started"), ("service", "api"), ("port", 8080)]]


@pytest.mark.parametrize("logger", ["events", 42, logging.getLogger("x")])
def test_a_logger_that_is_not_fastevlogs_is_a_type_error(logger):
    with pytest.raises(TypeError, match="^logger must be None .* not "):
        fastevlog.structlog_factory(logger)


def test_the_factory_function_given_uncalled_says_so():
    structlog.configure(logger_factory=fastevlog.structlog_factory)
    with pytest.raises(AttributeError, match=r"logger_factory=fastevlog.structlog_factory\(...\) \(called\)"):
        structlog.get_logger().info("user_login")


def test_threads_each_see_their_own_context(tmp_path):
    per_thread = 300

    def work(index):
        structlog.contextvars.bind_contextvars(thread=index)      # each thread has its own context
        log = structlog.get_logger().bind(bound=index)
        for i in range(per_thread):
            log.info("tick", i=i)

    with EventLogCounter(directory=tmp_path) as events:
        configure(events, [structlog.contextvars.merge_contextvars], cache_logger_on_first_use=True)
        threads = [threading.Thread(target=work, args=(index,)) for index in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    seen = sorted((event["thread"], event["bound"], event["i"]) for event in read_events(tmp_path))
    assert seen == [(index, index, i) for index in range(4) for i in range(per_thread)]


def test_import_fastevlog_imports_no_structlog(tmp_path):
    done = run_python("import sys, fastevlog; fastevlog.structlog_factory(); "
                      "print(sorted(name for name in sys.modules if name.split('.')[0] == 'structlog'))",
                      cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.replace("'", '"')) == []
