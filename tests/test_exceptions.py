"""exc_info=, stack_info= and exception() (fastevlog/_exceptions.py): the fields they add, as logging
writes them."""

import sys
import traceback

import pytest
from support import read_events

import fastevlog
from fastevlog import EventLogCounter


class Declined(Exception):
    pass


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no str for you")


def formatted(error: BaseException) -> str:
    """The traceback as logging.Formatter.formatException writes it."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__)).rstrip("\n")


def raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:
        return caught


def test_exception_logs_an_error_with_the_exception_being_handled(tmp_path):
    with EventLogCounter(directory=tmp_path) as logger:
        try:
            {}["missing"]
        except KeyError as error:
            logger.exception("lookup_failed", "no such key", key="missing")
            caught = error
    [event] = read_events(tmp_path)
    assert event["level"] == "ERROR"
    assert event["message"] == "no such key" and event["key"] == "missing"
    assert list(event)[-2:] == ["key", "exception"]  # after the call's fields
    assert event["exception"] == {"type": "KeyError", "message": "'missing'", "traceback": formatted(caught)}
    assert event["exception"]["traceback"].startswith("Traceback (most recent call last):")
    assert "test_exception_logs_an_error_with_the_exception_being_handled" in event["exception"]["traceback"]


@pytest.mark.parametrize("method", ["log", "debug", "info", "warning", "error", "critical"])
def test_exc_info_true_on_every_level_method(tmp_path, method):
    with EventLogCounter(directory=tmp_path) as logger:
        try:
            raise Declined("card declined")
        except Declined as error:
            call = getattr(logger, method)
            if method == "log":
                call("WARNING", "paid", exc_info=True)
            else:
                call("paid", exc_info=True)
            caught = error
    [event] = read_events(tmp_path)
    assert event["level"] == ("WARNING" if method == "log" else method.upper())
    assert event["exception"] == {"type": f"{Declined.__module__}.Declined", "message": "card declined",
                                  "traceback": formatted(caught)}


def test_exc_info_takes_an_exception_or_a_tuple_outside_an_except(tmp_path):
    error = raised(ValueError("bad value"))
    with EventLogCounter(directory=tmp_path) as logger:
        logger.info("instance", exc_info=error)
        logger.info("tuple", exc_info=(type(error), error, error.__traceback__))
        logger.info("never raised", exc_info=OSError(2, "gone"))
    events = read_events(tmp_path)
    assert [e["exception"] for e in events[:2]] == [
        {"type": "ValueError", "message": "bad value", "traceback": formatted(error)}] * 2
    assert events[2]["exception"] == {"type": "FileNotFoundError", "message": "[Errno 2] gone",
                                      "traceback": "FileNotFoundError: [Errno 2] gone"}


def test_no_exception_field_without_an_exception(tmp_path):
    assert sys.exc_info() == (None, None, None)
    with EventLogCounter(directory=tmp_path) as logger:
        logger.info("true outside except", exc_info=True)
        logger.exception("exception() outside except")
        logger.info("false", exc_info=False)
        logger.info("none", exc_info=None)
        logger.info("empty tuple", exc_info=(None, None, None))
        try:
            raise Declined("x")
        except Declined:
            logger.exception("turned off", exc_info=False)
    events = read_events(tmp_path)
    assert [e["event_id"] for e in events] == ["true outside except", "exception() outside except", "false",
                                               "none", "empty tuple", "turned off"]
    assert events[1]["level"] == "ERROR"
    assert all("exception" not in e and "exc_info" not in e for e in events)


def test_chained_exceptions_are_written_as_logging_writes_them(tmp_path):
    with EventLogCounter(directory=tmp_path) as logger:
        try:
            try:
                raise KeyError("inner")
            except KeyError as inner:
                raise Declined("outer") from inner
        except Declined as error:
            logger.exception("chained")
            caught = error
    [event] = read_events(tmp_path)
    text = event["exception"]["traceback"]
    assert text == formatted(caught)
    assert "The above exception was the direct cause of the following exception" in text
    assert text.index("KeyError: 'inner'") < text.index("Declined: outer")


def test_an_exception_whose_str_fails_is_still_written(tmp_path):
    with EventLogCounter(directory=tmp_path) as logger:
        logger.error("unprintable", exc_info=raised(Unprintable()))
    [event] = read_events(tmp_path)
    assert event["exception"]["type"].endswith("Unprintable")
    assert event["exception"]["message"] == "<exception str() failed>"


@pytest.mark.parametrize("exc_info", ["yes", 1, (1, 2), [ValueError, ValueError(), None], Declined,
                                      (1, 2, 3)])
def test_a_bad_exc_info_names_the_parameter_and_loses_nothing(tmp_path, exc_info):
    with EventLogCounter(directory=tmp_path) as logger:
        logger.info("before")
        with pytest.raises(TypeError, match=r"exc_info (must be True, an exception, or a|as a) \(type, "):
            logger.info("bad", exc_info=exc_info)
        logger.info("after")
    assert [e["event_id"] for e in read_events(tmp_path)] == ["before", "after"]


def test_a_field_the_exception_would_write_twice_is_refused(tmp_path):
    with EventLogCounter(directory=tmp_path) as logger:
        bound = logger.bind(stack="mine")
        try:
            raise Declined("x")
        except Declined:
            with pytest.raises(ValueError, match='the field "exception" cannot be given with exc_info'):
                logger.exception("twice", exception="mine")
            with pytest.raises(ValueError, match='the field "stack" cannot be given'):
                bound.info("twice", stack_info=True)
            logger.info("a field of that name alone is fine", exception="mine")
    events = read_events(tmp_path)
    assert [(e["event_id"], e["exception"]) for e in events] == [
        ("a field of that name alone is fine", "mine")]


def test_stack_info_writes_the_callers_stack(tmp_path):
    def inner_caller(logger):
        logger.info("with stack", stack_info=True)

    with EventLogCounter(directory=tmp_path) as logger:
        inner_caller(logger)
        fastevlog.configure(directory=tmp_path / "default")
        try:
            fastevlog.warning("module level", stack_info=True)  # fastevlog's own frame left out
        finally:
            fastevlog.stop()
    [event] = read_events(tmp_path)
    stack = event["stack"]
    assert stack.startswith("Stack (most recent call last):\n")
    last = stack.splitlines()[-2:]
    assert "in inner_caller" in last[0] and "stack_info=True" in last[1]
    assert "test_stack_info_writes_the_callers_stack" in stack
    [event] = read_events(tmp_path / "default")
    last = event["stack"].splitlines()[-2:]
    assert "in test_stack_info_writes_the_callers_stack" in last[0] and "fastevlog.warning(" in last[1]
    assert "fastevlog/__init__.py" not in event["stack"]


def test_module_level_exception_and_filtered_calls(tmp_path):
    fastevlog.configure(directory=tmp_path, level="ERROR")
    try:
        try:
            raise Declined("module")
        except Declined:
            fastevlog.exception("at module level", order=1)
            fastevlog.warning("filtered", exc_info=True)
    finally:
        fastevlog.stop()
    [event] = read_events(tmp_path)
    assert event["event_id"] == "at module level" and event["order"] == 1
    assert event["exception"]["message"] == "module"


@pytest.mark.parametrize("name", ["exc_info", "stack_info"])
def test_log_many_takes_no_exc_info_or_stack_info(tmp_path, name):
    with EventLogCounter(directory=tmp_path) as logger:
        with pytest.raises(ValueError, match=f'"{name}" cannot be a field of log_many.*logs no'):
            logger.log_many("INFO", ["a"], **{name: [True]})
        logger.info("after")
    assert [e["event_id"] for e in read_events(tmp_path)] == ["after"]
