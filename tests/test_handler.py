"""fastevlog.Handler: stdlib logging records as fastevlog events, without feedback into a stopped logger."""

import logging
import logging.config
import sys
import textwrap
import threading

import pytest
from support import read_events, run_python

import fastevlog
from fastevlog import EventLogCounter, Handler


@pytest.fixture
def events(tmp_path):
    with EventLogCounter(directory=tmp_path) as logger:
        yield logger


@pytest.fixture
def stdlib_logger(request):
    """A stdlib logger of this test's own, at DEBUG, not propagating to the root logger."""
    logger = logging.getLogger(f"tests.handler.{request.node.name}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)


def written(events, tmp_path):
    events.flush()
    return read_events(tmp_path)


def test_a_record_becomes_one_event(events, tmp_path, stdlib_logger):
    stdlib_logger.addHandler(Handler(events))
    stdlib_logger.info("user %s logged in", "ann", extra={"user_id": 42, "roles": ["a", "b"]})
    [line] = written(events, tmp_path)
    assert list(line) == ["timestamp", "level", "event_id", "message", "logger", "user_id", "roles"]
    assert line["level"] == "INFO"
    assert line["event_id"] == stdlib_logger.name
    assert line["message"] == "user ann logged in"
    assert line["logger"] == stdlib_logger.name
    assert (line["user_id"], line["roles"]) == (42, ["a", "b"])
    assert events.counts() == {"levels": {"INFO": 1}, "event_ids": {stdlib_logger.name: 1}}


@pytest.mark.parametrize("method, level", [("debug", "DEBUG"), ("info", "INFO"), ("warning", "WARNING"),
                                           ("error", "ERROR"), ("critical", "CRITICAL")])
def test_levels(events, tmp_path, stdlib_logger, method, level):
    stdlib_logger.addHandler(Handler(events))
    getattr(stdlib_logger, method)("m")
    assert [line["level"] for line in written(events, tmp_path)] == [level]


def test_event_id_from_extra_then_the_callable_then_the_logger_name(events, tmp_path, stdlib_logger):
    stdlib_logger.addHandler(Handler(events, event_id=lambda record: f"{record.module}:{record.lineno}"))
    stdlib_logger.info("a", extra={"event_id": "payment_failed"})
    stdlib_logger.info("b", extra={"event_id": 7})
    stdlib_logger.info("c")
    lines = written(events, tmp_path)
    assert [line["event_id"] for line in lines[:2]] == ["payment_failed", 7]
    assert lines[2]["event_id"].startswith("test_handler:")
    assert all("event_id" not in list(line)[3:] for line in lines)  # consumed, not also a field


def test_record_fields(events, tmp_path, stdlib_logger):
    everything = ("logger", "module", "func", "line", "thread_name", "process")
    stdlib_logger.addHandler(Handler(events, record_fields=everything))
    stdlib_logger.info("m", extra={"k": 1})
    line_number = sys._getframe().f_lineno - 1
    [line] = written(events, tmp_path)
    assert list(line)[4:] == [*everything, "k"]
    assert line["module"] == "test_handler"
    assert line["func"] == "test_record_fields"
    assert line["line"] == line_number
    assert line["thread_name"] == threading.current_thread().name
    assert line["process"] == __import__("os").getpid()


def test_no_record_fields(events, tmp_path, stdlib_logger):
    stdlib_logger.addHandler(Handler(events, record_fields=()))
    stdlib_logger.warning("m")
    assert list(written(events, tmp_path)[0]) == ["timestamp", "level", "event_id", "message"]


def test_extras_named_like_the_lines_own_keys_are_renamed(events, tmp_path, stdlib_logger):
    stdlib_logger.addHandler(Handler(events))
    stdlib_logger.info("m", extra={"timestamp": "t", "level": "l", 3: "int key", "logger": "mine"})
    [line] = written(events, tmp_path)
    assert (line["level"], line["level_"], line["timestamp_"], line["3"]) == ("INFO", "l", "t", "int key")
    assert line["logger"] == "mine"  # the record's extra wins over a record field


def test_extras_after_another_handlers_formatter_and_from_a_record_factory(events, tmp_path, stdlib_logger):
    """Attributes a record factory adds are fields too; those a Formatter adds ("message", "asctime",
    after the extras) are not."""
    formatted = logging.Handler()
    formatted.emit = lambda record: None
    formatted.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    formatted.handle = lambda record: formatted.format(record)
    stdlib_logger.addHandler(formatted)
    stdlib_logger.addHandler(Handler(events))
    make_record = logging.getLogRecordFactory()

    def with_request_id(*args, **kwargs):
        record = make_record(*args, **kwargs)
        record.request_id = "r-1"
        return record

    logging.setLogRecordFactory(with_request_id)
    try:
        stdlib_logger.info("m", extra={"a": 1, "b": 2})
    finally:
        logging.setLogRecordFactory(make_record)
    [line] = written(events, tmp_path)
    assert list(line)[4:] == ["logger", "request_id", "a", "b"]


class EarlyAttributeRecord(logging.LogRecord):
    """A record whose __dict__ does not start with LogRecord.__init__'s attributes in their order."""

    def __init__(self, *args, **kwargs):
        self.early = "set before LogRecord.__init__"
        super().__init__(*args, **kwargs)

    def getMessage(self):
        return "overridden: " + super().getMessage()


class KeyThatChangesTheRecord:
    """An extra key whose str() adds attributes to the record that holds it."""

    def __init__(self, record_holder):
        self.record_holder = record_holder

    def __str__(self):
        for n in range(50):
            setattr(self.record_holder[0], f"added_{n}", n)
        return "odd_key"


def test_records_of_other_shapes(events, tmp_path, stdlib_logger):
    """Extras are found whatever the order of a record's attributes: a subclass setting one first, an
    attribute deleted and set again (moved to the end), a key whose str() changes the record meanwhile."""
    stdlib_logger.addHandler(Handler(events))
    make_record = logging.getLogRecordFactory()
    logging.setLogRecordFactory(EarlyAttributeRecord)
    try:
        stdlib_logger.info("early bird", extra={"late": 1})  # no args: only the override makes the message
    finally:
        logging.setLogRecordFactory(make_record)

    def move_msg_to_the_end(record):
        msg = record.msg
        del record.msg
        record.msg = msg
        return True

    stdlib_logger.filters.append(move_msg_to_the_end)
    stdlib_logger.info("moved", extra={"k": 2})
    stdlib_logger.filters.clear()
    holder = []
    stdlib_logger.addFilter(lambda record: holder.append(record) or True)
    stdlib_logger.info("odd", extra={KeyThatChangesTheRecord(holder): 3})
    early, moved, odd = written(events, tmp_path)
    assert without_own_keys(early) == {"logger": stdlib_logger.name, "early": "set before LogRecord.__init__",
                                       "late": 1}
    assert early["message"] == "overridden: early bird"
    assert without_own_keys(moved) == {"logger": stdlib_logger.name, "k": 2}
    assert without_own_keys(odd) == {"logger": stdlib_logger.name, "odd_key": 3}


def without_own_keys(line):
    return {key: value for key, value in line.items()
            if key not in ("timestamp", "level", "event_id", "message")}


def test_custom_levels(events, tmp_path, stdlib_logger):
    """A level fastevlog knows is kept; one only logging knows is declared under logging's name."""
    fastevlog.add_level("NOTICE", 25)  # as tests/test_levels.py declares it
    logging.addLevelName(27, "AUDIT")
    stdlib_logger.addHandler(Handler(events))
    stdlib_logger.log(25, "a")
    stdlib_logger.log(27, "b")
    stdlib_logger.log(33, "c")  # logging's name for it is "Level 33"
    assert [line["level"] for line in written(events, tmp_path)] == ["NOTICE", "AUDIT", "LEVEL_33"]
    assert fastevlog.levels()["AUDIT"] == 27
    assert events.counts()["levels"] == {"NOTICE": 1, "AUDIT": 1, "LEVEL_33": 1}


def test_a_level_that_cannot_be_declared_is_reported_and_the_next_record_written(
        events, tmp_path, stdlib_logger, capsys):
    logging.addLevelName(44, "ERROR")  # ERROR is fastevlog's 40: 44 cannot be declared under that name
    try:
        stdlib_logger.addHandler(Handler(events))
        stdlib_logger.log(44, "lost")
        stdlib_logger.error("kept")
    finally:
        logging.addLevelName(44, "Level 44")
    assert [line["message"] for line in written(events, tmp_path)] == ["kept"]
    error = capsys.readouterr().err
    assert "--- Logging error ---" in error and "fastevlog.add_level(NAME, 44)" in error


def test_exceptions_and_stacks(events, tmp_path, stdlib_logger):
    stdlib_logger.addHandler(Handler(events))
    try:
        raise ValueError("card expired")
    except ValueError:
        stdlib_logger.exception("charge failed", extra={"exception": "mine"})
    stdlib_logger.error("no exception", exc_info=True)  # outside an except: nothing to write
    stdlib_logger.info("here", stack_info=True, extra={"stack": "mine"})
    failed, plain, here = written(events, tmp_path)
    assert failed["level"] == "ERROR"
    assert failed["exception"]["type"] == "ValueError"
    assert failed["exception"]["message"] == "card expired"
    assert 'raise ValueError("card expired")' in failed["exception"]["traceback"]
    assert failed["exception_"] == "mine"
    assert "exception" not in plain
    assert here["stack"].startswith("Stack (most recent call last):\n")
    assert "test_exceptions_and_stacks" in here["stack"]
    assert here["stack_"] == "mine"


def test_a_bound_logger(events, tmp_path, stdlib_logger):
    stdlib_logger.addHandler(Handler(events.bind(service="api")))
    stdlib_logger.info("m", extra={"k": 1})
    [line] = written(events, tmp_path)
    assert list(line)[3:] == ["message", "service", "logger", "k"]


def test_many_threads_exactly_once(events, tmp_path, stdlib_logger):
    stdlib_logger.addHandler(Handler(events))
    threads, per_thread = 20, 500

    def produce(t):
        for n in range(per_thread):
            stdlib_logger.info("n", extra={"t": t, "n": n})

    workers = [threading.Thread(target=produce, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    lines = written(events, tmp_path)
    assert sorted((line["t"], line["n"]) for line in lines) == [
        (t, n) for t in range(threads) for n in range(per_thread)]


def test_the_handlers_lock_is_not_taken_per_record(events, tmp_path, stdlib_logger):
    handler = Handler(events)
    stdlib_logger.addHandler(handler)
    handler.acquire()  # another thread could hold it as long: a record must not wait for it
    try:
        done = threading.Event()
        worker = threading.Thread(target=lambda: (stdlib_logger.info("m"), done.set()))
        worker.start()
        assert done.wait(30)
        worker.join()
    finally:
        handler.release()
    assert len(written(events, tmp_path)) == 1


def test_filters_still_apply(events, tmp_path, stdlib_logger):
    handler = Handler(events)
    handler.addFilter(lambda record: record.getMessage() != "skip")
    handler.setLevel(logging.INFO)
    stdlib_logger.addHandler(handler)
    stdlib_logger.info("skip")
    stdlib_logger.debug("below")
    stdlib_logger.info("kept")
    assert [line["message"] for line in written(events, tmp_path)] == ["kept"]


def test_a_stopped_logger_is_a_logging_error_not_an_exception(tmp_path, stdlib_logger, capsys):
    events = EventLogCounter(directory=tmp_path)
    stdlib_logger.addHandler(Handler(events))
    events.stop()
    stdlib_logger.info("late")  # raises nothing into the caller, as any logging handler
    assert "this logger is stopped" in capsys.readouterr().err


def test_flush_writes_what_the_handler_logged(events, tmp_path, stdlib_logger):
    handler = Handler(events)
    stdlib_logger.addHandler(handler)
    stdlib_logger.info("m")
    handler.flush()
    assert len(read_events(tmp_path)) == 1


@pytest.mark.parametrize("kwargs, error, words", [
    ({"logger": logging.INFO}, TypeError, "logger must be an EventLogCounter"),
    ({"logger": "events"}, TypeError, "logger must be"),
    ({"event_id": "app"}, TypeError, "event_id must be a function"),
    ({"record_fields": "logger"}, TypeError, "record_fields must be a list"),
    ({"record_fields": ["logger", "lineno"]}, ValueError, "'lineno' is not one of"),
    ({"record_fields": ["line", "line"]}, ValueError, "twice"),
])
def test_bad_arguments_name_the_parameter(kwargs, error, words):
    with pytest.raises(error, match=words):
        Handler(**kwargs)


def test_own_records_from_fastevlog_threads_are_never_written(events, tmp_path, stdlib_logger, capsys):
    """fastevlog's own records made on its threads go to stderr (WARNING and above) or nowhere."""
    own = logging.getLogger("fastevlog")
    handler = Handler(events)
    own.addHandler(handler)
    try:
        def from_a_fastevlog_thread():
            own.info("info from fastevlog's thread")
            own.error("error from fastevlog's thread")

        worker = threading.Thread(target=from_a_fastevlog_thread, name="fastevlog-writer-9")
        worker.start()
        worker.join()
        own.warning("warning from the application's thread")
    finally:
        own.removeHandler(handler)
    messages = [line["message"] for line in written(events, tmp_path)]
    assert messages == ["warning from the application's thread"]
    error = capsys.readouterr().err
    assert "error from fastevlog's thread" in error and "info from" not in error


def test_own_records_never_go_into_a_stopped_logger(tmp_path, capsys):
    events = EventLogCounter(directory=tmp_path)
    own = logging.getLogger("fastevlog")
    handler = Handler(events)
    own.addHandler(handler)
    try:
        events.stop()
        own.info("info after stop")
        own.critical("critical after stop")
    finally:
        own.removeHandler(handler)
    error = capsys.readouterr().err
    assert "critical after stop" in error and "info after stop" not in error
    assert "Logging error" not in error
    assert read_events(tmp_path) == []


def test_dict_config_with_a_given_logger(tmp_path):
    code = textwrap.dedent(f"""
        import logging, logging.config, fastevlog
        events = fastevlog.EventLogCounter(directory={str(tmp_path / "given")!r})
        logging.config.dictConfig({{
            "version": 1,
            "handlers": {{"events": {{"class": "fastevlog.Handler", "logger": "ext://__main__.events",
                                      "record_fields": ["logger", "line"], "level": "INFO"}}}},
            "root": {{"handlers": ["events"], "level": "DEBUG"}},
        }})
        logging.getLogger("app").debug("below the handler's level")
        logging.getLogger("app").info("kept", extra={{"k": 1}})
    """)
    result = run_python(code, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    [line] = read_events(tmp_path / "given")
    assert (line["event_id"], line["message"], line["k"]) == ("app", "kept", 1)
    assert list(line)[4:6] == ["logger", "line"]


def test_dict_config_with_the_default_logger_that_configure_replaces(tmp_path):
    code = textwrap.dedent("""
        import logging, logging.config, fastevlog
        logging.config.dictConfig({
            "version": 1,
            "handlers": {"events": {"class": "fastevlog.Handler"}},
            "root": {"handlers": ["events"], "level": "DEBUG"},
        })
        fastevlog.configure(directory="first")
        logging.getLogger("app").info("one")
        fastevlog.configure(directory="second")
        logging.getLogger("app").info("two")
    """)
    result = run_python(code, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    assert [line["message"] for line in read_events(tmp_path / "first")] == ["one"]
    assert [line["message"] for line in read_events(tmp_path / "second")] == ["two"]


def test_a_record_that_finds_the_default_logger_stopped_goes_to_the_new_one(tmp_path):
    """configure() replaces and stops the default logger just after emit() took it: the record is
    written to the new one, not lost (the event_id function runs in that window)."""
    code = textwrap.dedent("""
        import logging, fastevlog
        fastevlog.configure(directory="first")
        raced = []
        def event_id(record):
            if record.getMessage() == "racing" and not raced:
                raced.append(True)
                fastevlog.configure(directory="second")
            return "app"
        logging.basicConfig(level=logging.INFO, handlers=[fastevlog.Handler(event_id=event_id)])
        logging.getLogger("app").info("before")
        logging.getLogger("app").info("racing")
        logging.getLogger("app").info("after")
    """)
    result = run_python(code, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")
    assert [line["message"] for line in read_events(tmp_path / "first")] == ["before"]
    assert [line["message"] for line in read_events(tmp_path / "second")] == ["racing", "after"]


def test_configure_while_threads_log_through_the_default_logger(tmp_path):
    """A record racing configure() goes to the old logger before it stops, or to the new one: exactly once."""
    code = textwrap.dedent("""
        import logging, threading, fastevlog
        fastevlog.configure(directory="d0")
        root = logging.getLogger()
        root.addHandler(fastevlog.Handler())
        root.setLevel(logging.INFO)
        def produce(t):
            for n in range(3000):
                logging.getLogger("app").info("n", extra={"t": t, "n": n})
        workers = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
        for worker in workers:
            worker.start()
        for d in range(1, 30):
            fastevlog.configure(directory=f"d{d % 3}", buffer_bytes=1 << 20)
        for worker in workers:
            worker.join()
    """)
    result = run_python(code, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stderr) == (0, "")
    lines = [line for d in range(3) for line in read_events(tmp_path / f"d{d}") if line["event_id"] == "app"]
    assert sorted((line["t"], line["n"]) for line in lines) == [(t, n) for t in range(4) for n in range(3000)]


def test_interpreter_exit_is_quiet_with_the_handler_on_the_root_logger(tmp_path):
    """The issue's case: the Handler on the root logger at DEBUG takes fastevlog's own records too;
    rotations and flushes are reported while it logs and at exit, and none comes back into a
    stopping logger: nothing on stderr, every event in the files, none of fastevlog's own lines."""
    code = textwrap.dedent("""
        import logging, threading, fastevlog
        fastevlog.configure(directory="logs", max_file_size=4096, flush_interval=0.01)
        logging.basicConfig(level=logging.DEBUG, handlers=[fastevlog.Handler()])
        def produce(t):
            for n in range(2000):
                logging.getLogger("app").info("n", extra={"t": t, "n": n})
        workers = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        logging.getLogger("app").info("last")
    """)
    result = run_python(code, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stderr) == (0, "")
    lines = read_events(tmp_path / "logs")
    assert len(lines) == 8001
    assert sorted((line["t"], line["n"]) for line in lines if "t" in line) == [
        (t, n) for t in range(4) for n in range(2000)]
    assert {line["event_id"] for line in lines} == {"app"}


def test_recovery_reported_while_the_handler_starts_the_default_logger(tmp_path):
    """The first record starts the default logger, whose recovery reports on "fastevlog": that
    report must not come back into the handler that is starting it (it would wait for itself)."""
    dead = textwrap.dedent("""
        import os, fastevlog
        events = fastevlog.EventLogCounter(flush_interval=3600)
        for n in range(100):
            events.info("before_crash", n=n)
        os._exit(0)   # no stop(): the events stay in the buffer file, for recovery
    """)
    assert run_python(dead, cwd=tmp_path, timeout=60).returncode == 0
    code = textwrap.dedent("""
        import logging, fastevlog
        logging.basicConfig(level=logging.DEBUG, handlers=[fastevlog.Handler()])
        logging.getLogger("app").info("after")
    """)
    result = run_python(code, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "recovered 100 events" in result.stderr
    ids = [line["event_id"] for line in read_events(tmp_path)]
    assert sorted(ids) == ["app"] + ["before_crash"] * 100
