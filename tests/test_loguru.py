"""loguru through fastevlog (fastevlog/_loguru.py): each record one line, read back from the files."""

import json
import threading

import pytest
from loguru import logger
from support import read_events, run_python

import fastevlog
from fastevlog import EventLogCounter


@pytest.fixture
def sink():
    """add(fastevlog logger, **options): the sink added to loguru's logger; removed after the test."""
    added = []

    def add(events, **options):
        options.setdefault("level", 0)  # every record reaches the sink; fastevlog's level filters
        added.append(logger.add(fastevlog.loguru_sink(events, **options.pop("sink_options", {})), **options))

    yield add
    for handler_id in added:
        logger.remove(handler_id)


def without_timestamp(event):
    """The line's keys and values after its own timestamp, in order."""
    assert list(event)[0] == "timestamp"
    return list(event.items())[1:]


def test_level_message_and_extra(tmp_path, sink):
    with EventLogCounter(directory=tmp_path) as events:
        sink(events)
        log = logger.bind(user=42, order={"id": 17, "items": ["pen", {"ink": None}]})
        log.info("User {} logged in.", "Ann")
        with logger.contextualize(request_id="r-17"):
            log.bind(event_id="payment_failed").error("declined", amount=12.5)   # a call's kwargs too
        logger.bind(event_id=7).warning("int id")
        logger.opt(lazy=True).debug("lazy {}", lambda: "value")
        logger.patch(lambda record: record.update(name="myapp.payments", module="payments")).info("named")
    assert [without_timestamp(event) for event in read_events(tmp_path)] == [
        [("level", "INFO"), ("event_id", __name__), ("message", "User Ann logged in."), ("user", 42),
         ("order", {"id": 17, "items": ["pen", {"ink": None}]})],
        [("level", "ERROR"), ("event_id", "payment_failed"), ("message", "declined"),
         ("request_id", "r-17"), ("user", 42), ("order", {"id": 17, "items": ["pen", {"ink": None}]}),
         ("amount", 12.5)],
        [("level", "WARNING"), ("event_id", 7), ("message", "int id")],
        [("level", "DEBUG"), ("event_id", __name__), ("message", "lazy value")],
        [("level", "INFO"), ("event_id", "myapp.payments"), ("message", "named")],   # the record's name
    ]
    assert events.counts()["event_ids"] == {__name__: 2, "payment_failed": 1, 7: 1, "myapp.payments": 1}


def test_loguru_levels_fastevlog_lacks_are_declared_under_loguru_names(tmp_path):
    """A fresh process: TRACE 5, SUCCESS 25 and a custom level, written and counted as loguru names them."""
    code = (
        "import json, fastevlog\n"
        "from loguru import logger\n"
        "logger.remove()\n"
        "logger.level('AUDIT', no=33)\n"
        "with fastevlog.EventLogCounter(directory='logs') as events:\n"
        "    logger.add(fastevlog.loguru_sink(events), level=0)\n"
        "    for level in ('TRACE', 'DEBUG', 'INFO', 'SUCCESS', 'WARNING', 'ERROR', 'CRITICAL', 'AUDIT'):\n"
        "        logger.log(level, level.lower())\n"
        "    logger.log(25, 'by_number')\n"
        "first = events.counts()['levels']\n"
        "with fastevlog.EventLogCounter(directory='logs', level='TRACE') as events:\n"   # declared by now
        "    logger.remove()\n"
        "    logger.add(fastevlog.loguru_sink(events), level=0)\n"
        "    logger.trace('trace_kept')\n"
        "print(json.dumps([first, events.counts()['levels'], fastevlog.levels()]))\n"
    )
    done = run_python(code, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    first, second, levels = json.loads(done.stdout)
    assert [(e["level"], e["message"]) for e in read_events(tmp_path / "logs")] == [
        # TRACE is below the first logger's level, DEBUG: declared, then filtered
        ("DEBUG", "debug"), ("INFO", "info"), ("SUCCESS", "success"), ("WARNING", "warning"),
        ("ERROR", "error"), ("CRITICAL", "critical"), ("AUDIT", "audit"), ("SUCCESS", "by_number"),
        ("TRACE", "trace_kept")]
    assert (levels["TRACE"], levels["SUCCESS"], levels["AUDIT"]) == (5, 25, 33)
    assert first == {"DEBUG": 1, "INFO": 1, "SUCCESS": 2, "WARNING": 1, "ERROR": 1, "CRITICAL": 1, "AUDIT": 1}
    assert second == {"TRACE": 1}


def test_a_loguru_level_fastevlog_names_otherwise_keeps_loguru_name_as_level_(tmp_path):
    """A fresh process, as levels are process-wide: 26 is fastevlog's ADAPT_NOTE and loguru's LOGURU_NOTE."""
    code = (
        "import fastevlog\n"
        "from loguru import logger\n"
        "logger.remove()\n"
        "fastevlog.add_level('ADAPT_NOTE', 26)\n"
        "logger.level('LOGURU_NOTE', no=26)\n"
        "with fastevlog.EventLogCounter(directory='logs') as events:\n"
        "    logger.add(fastevlog.loguru_sink(events))\n"
        "    logger.log('LOGURU_NOTE', 'noted')\n"
    )
    done = run_python(code, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [without_timestamp(event) for event in read_events(tmp_path / "logs")] == [
        [("level", "ADAPT_NOTE"), ("event_id", "__main__"), ("message", "noted"), ("level_", "LOGURU_NOTE")]]


def test_a_level_that_cannot_be_declared_is_reported_by_loguru(tmp_path, sink):
    logger.level("LOGURU_ZERO", no=0)
    with EventLogCounter(directory=tmp_path) as events:
        sink(events, catch=False)
        with pytest.raises(ValueError, match="level 0 .* cannot be written"):
            logger.log("LOGURU_ZERO", "zero")
    assert read_events(tmp_path) == []


def test_the_exception_is_the_exception_field(tmp_path, sink):
    with EventLogCounter(directory=tmp_path) as events:
        sink(events)
        try:
            raise ValueError("card expired")
        except ValueError:
            logger.bind(order=17).exception("payment failed")
            logger.opt(exception=True).warning("retrying")
        logger.opt(exception=KeyError("card")).info("no traceback")
        logger.error("no exception")
    failed, retried, untraced, plain = read_events(tmp_path)
    assert [(e["level"], e["message"]) for e in (failed, retried, untraced, plain)] == [
        ("ERROR", "payment failed"), ("WARNING", "retrying"), ("INFO", "no traceback"),
        ("ERROR", "no exception")]
    for event in (failed, retried):
        assert event["exception"]["type"] == "ValueError"
        assert event["exception"]["message"] == "card expired"
        assert event["exception"]["traceback"].startswith("Traceback (most recent call last):")
        assert 'raise ValueError("card expired")' in event["exception"]["traceback"]
    assert failed["order"] == 17
    assert untraced["exception"] == {"type": "KeyError", "message": "'card'", "traceback": "KeyError: 'card'"}
    assert "exception" not in plain


def test_the_lines_own_keys_in_extra_are_renamed(tmp_path, sink):
    with EventLogCounter(directory=tmp_path) as events:
        sink(events)
        logger.bind(timestamp=1.5, level="high", message="m", exc_info=True, stack_info=1, user=1).info("x")
        try:
            raise ValueError("v")
        except ValueError:
            logger.bind(exception="mine").exception("y")
    x, y = read_events(tmp_path)
    assert without_timestamp(x) == [
        ("level", "INFO"), ("event_id", __name__), ("message", "x"), ("timestamp_", 1.5), ("level_", "high"),
        ("message_", "m"), ("exc_info_", True), ("stack_info_", 1), ("user", 1)]
    assert (y["exception_"], y["exception"]["type"]) == ("mine", "ValueError")


def test_the_record_is_left_as_it_is_for_the_next_sink(tmp_path, sink):
    first, second = EventLogCounter(directory=tmp_path / "a"), EventLogCounter(directory=tmp_path / "b")
    with first, second:
        sink(first)
        sink(second)
        logger.bind(event_id="payment", level="high", user=1).info("x")
    [a], [b] = read_events(tmp_path / "a"), read_events(tmp_path / "b")
    assert without_timestamp(a) == without_timestamp(b) == [
        ("level", "INFO"), ("event_id", "payment"), ("message", "x"), ("level_", "high"), ("user", 1)]


def test_event_id_function(tmp_path, sink):
    with EventLogCounter(directory=tmp_path) as events:
        sink(events, sink_options={"event_id": lambda record: f"{record['function']}:{record['line']}"})
        logger.bind(event_id="ignored").info("x")
    [event] = read_events(tmp_path)
    assert event["event_id"].startswith("test_event_id_function:")
    assert "event_id" not in list(event)[3:]


def test_enqueue_writes_the_callers_record_from_loguru_thread(tmp_path, sink):
    """With enqueue=True the sink runs on loguru's thread: what it writes still comes from the record."""
    with EventLogCounter(directory=tmp_path) as events:
        sink(events, enqueue=True)
        with logger.contextualize(request_id="r-1"):
            try:
                raise ValueError("card expired")
            except ValueError:
                logger.bind(event_id="payment_failed", order=17).exception("declined")
        logger.warning("done")
        logger.complete()
    failed, done = read_events(tmp_path)
    assert without_timestamp(failed)[:4] == [("level", "ERROR"), ("event_id", "payment_failed"),
                                              ("message", "declined"), ("request_id", "r-1")]
    assert failed["order"] == 17
    # loguru pickles the record to its thread without the traceback: the type and message remain
    assert failed["exception"] == {"type": "ValueError", "message": "card expired",
                                   "traceback": "ValueError: card expired"}
    assert (done["level"], done["message"], "exception" in done) == ("WARNING", "done", False)


class Unpicklable(Exception):
    """An exception loguru cannot send to its thread (its type can be sent: it is module-level)."""

    def __reduce__(self):
        raise TypeError("no pickling")


def test_an_unpicklable_exception_under_enqueue_keeps_its_type(tmp_path, sink):
    with EventLogCounter(directory=tmp_path) as events:
        sink(events, enqueue=True)
        try:
            raise Unpicklable("secret")
        except Unpicklable:
            logger.exception("lost value")
        logger.complete()
    [event] = read_events(tmp_path)
    assert event["exception"]["type"] == "test_loguru.Unpicklable"
    assert event["message"] == "lost value"


def test_no_logger_writes_to_the_default_logger_of_the_moment(tmp_path, sink):
    try:
        fastevlog.configure(directory=tmp_path / "first")
        sink(None)
        logger.info("one")
        fastevlog.configure(directory=tmp_path / "second")
        logger.info("two")
    finally:
        fastevlog.stop()
    assert [event["message"] for event in read_events(tmp_path / "first")] == ["one"]
    assert [event["message"] for event in read_events(tmp_path / "second")] == ["two"]


def test_a_bound_fastevlog_logger_adds_its_fields(tmp_path, sink):
    with EventLogCounter(directory=tmp_path) as events:
        sink(events.bind(service="api"))
        logger.bind(port=8080).info("started")
    assert [without_timestamp(event) for event in read_events(tmp_path)] == [
        [("level", "INFO"), ("event_id", __name__), ("message", "started"), ("service", "api"),
         ("port", 8080)]]


@pytest.mark.parametrize("bad", ["events", 42])
def test_bad_arguments_are_type_errors_naming_the_parameter(bad):
    with pytest.raises(TypeError, match="^logger must be None .* not "):
        fastevlog.loguru_sink(bad)
    with pytest.raises(TypeError, match="^event_id must be None .* not "):
        fastevlog.loguru_sink(event_id=bad)


def test_the_sink_function_given_uncalled_says_so():
    handler_id = logger.add(fastevlog.loguru_sink, catch=False)
    try:
        with pytest.raises(TypeError, match=r"logger.add\(fastevlog.loguru_sink\(...\)\) \(called\)"):
            logger.info("x")
    finally:
        logger.remove(handler_id)


def test_fastevlogs_own_records_to_a_stopped_logger_are_dropped(tmp_path, sink):
    """fastevlog's stdlib logger routed into loguru (an InterceptHandler) while the logger stops."""
    events = EventLogCounter(directory=tmp_path)
    sink(events, catch=False)
    events.stop()
    logger.patch(lambda record: record.update(name="fastevlog._scheduler")).info("flush")
    with pytest.raises(RuntimeError):
        logger.info("someone else's")                 # not fastevlog's: the error stays


@pytest.mark.parametrize("enqueue", [False, True])
def test_fastevlogs_own_records_from_its_threads_are_not_written(tmp_path, sink, enqueue):
    """fastevlog's stdlib logger routed into loguru: what its scheduler or writers report is not written
    back through a logger (a full buffer would have the scheduler wait for itself); the rest is."""
    with EventLogCounter(directory=tmp_path) as events:
        sink(events, enqueue=enqueue)
        ours = logger.patch(lambda record: record.update(name="fastevlog._rotation"))
        worker = threading.Thread(target=lambda: ours.info("rotated"), name="fastevlog-scheduler")
        worker.start()
        worker.join()
        ours.warning("from the application's thread")
        logger.complete()
    assert [event["message"] for event in read_events(tmp_path)] == ["from the application's thread"]


@pytest.mark.parametrize("enqueue", [False, True])
def test_threads(tmp_path, sink, enqueue):
    per_thread = 200

    def work(index):
        with logger.contextualize(thread=index):
            log = logger.bind(bound=index)
            for i in range(per_thread):
                log.info("tick {}", i)

    with EventLogCounter(directory=tmp_path) as events:
        sink(events, enqueue=enqueue)
        threads = [threading.Thread(target=work, args=(index,)) for index in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        logger.complete()
    seen = sorted((event["thread"], event["bound"], event["message"]) for event in read_events(tmp_path))
    assert seen == sorted((index, index, f"tick {i}") for index in range(4) for i in range(per_thread))


def test_import_fastevlog_imports_no_loguru(tmp_path):
    done = run_python("import sys, fastevlog; fastevlog.loguru_sink(); "
                      "print(sorted(name for name in sys.modules if name.split('.')[0] == 'loguru'))",
                      cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.replace("'", '"')) == []
