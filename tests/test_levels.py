"""Levels (src/levels.pxi): the stdlib's five and those fastevlog.add_level() declares.

Levels are process-wide, like logging.addLevelName: the levels declared here stay
for the rest of the run, so they use names and numbers no other test uses, and
what fills the table runs in a child process.  Other tests take 26 as a level nobody declared.
"""

import array

import pytest
from support import read_events, run_python

import fastevlog
from fastevlog import EventLogCounter

NOTICE = ("NOTICE", 25)
TRACE = ("TRACE", 5)
LONGEST = ("LEVEL_15_CHARS_", 45)  # the longest name a level may have


@pytest.fixture(scope="module", autouse=True)
def declared():
    for name, number in (NOTICE, TRACE, LONGEST):
        fastevlog.add_level(name, number)


def test_a_declared_level_logs_by_name_and_number_and_is_counted(tmp_path):
    with EventLogCounter(directory=tmp_path) as logger:
        logger.log("NOTICE", "a", "by name")
        logger.log("notice", "a", "any case")
        logger.log(25, "b", "by number")
        logger.log(LONGEST[0].lower(), "c", x=1)
        logger.info("d")
        counts = logger.counts()
    assert [(e["level"], e["event_id"]) for e in read_events(tmp_path)] == [
        ("NOTICE", "a"), ("NOTICE", "a"), ("NOTICE", "b"), (LONGEST[0], "c"), ("INFO", "d")]
    # In order of number, as levels() lists them.
    assert list(counts["levels"].items()) == [("INFO", 1), ("NOTICE", 3), (LONGEST[0], 1)]


def test_levels_lists_every_level_in_order_of_number():
    levels = fastevlog.levels()
    assert list(levels.values()) == sorted(levels.values())
    assert {"TRACE": 5, "DEBUG": 10, "INFO": 20, "NOTICE": 25, "WARNING": 30, "ERROR": 40,
            LONGEST[0]: 45, "CRITICAL": 50}.items() <= levels.items()


def test_log_many_takes_declared_levels_by_name_number_and_array(tmp_path):
    with EventLogCounter(directory=tmp_path) as logger:
        logger.log_many("NOTICE", ["a", "b"])
        logger.log_many(["notice", 25, LONGEST[0], "INFO"], ["c", "d", "e", "f"], ["m"] * 4, n=[1, 2, 3, 4])
        logger.log_many(array.array("q", [25, 45]), ["g", "h"])
        counts = logger.counts()
    events = read_events(tmp_path)
    assert [e["level"] for e in events] == ["NOTICE", "NOTICE", "NOTICE", "NOTICE", LONGEST[0], "INFO",
                                            "NOTICE", LONGEST[0]]
    assert [e.get("n") for e in events[2:6]] == [1, 2, 3, 4]
    assert counts["levels"] == {"INFO": 1, "NOTICE": 5, LONGEST[0]: 2}


def test_a_declared_level_as_the_minimum_filters_by_number(tmp_path):
    with EventLogCounter(directory=tmp_path, level="notice") as logger:
        logger.log("TRACE", "below")
        logger.info("below")
        logger.log(25, "kept")
        logger.warning("kept")
        logger.log_many(["INFO", "NOTICE", "TRACE", LONGEST[0]], ["below", "kept", "below", "kept"])
    assert [e["event_id"] for e in read_events(tmp_path)] == ["kept"] * 4


def test_a_level_below_debug_is_written_when_the_minimum_allows_it(tmp_path):
    with EventLogCounter(directory=tmp_path, level=5) as logger:
        logger.log("TRACE", "t")
        logger.debug("d")
    with EventLogCounter(directory=tmp_path / "default") as logger:  # the default minimum is DEBUG
        logger.log("TRACE", "t")
        logger.debug("d")
    assert [e["level"] for e in read_events(tmp_path)] == ["TRACE", "DEBUG"]
    assert [e["level"] for e in read_events(tmp_path / "default")] == ["DEBUG"]


def test_declaring_the_same_level_again_does_nothing():
    before = fastevlog.levels()
    fastevlog.add_level("NOTICE", 25)
    fastevlog.add_level("notice", 25)
    fastevlog.add_level("INFO", 20)
    assert fastevlog.levels() == before


@pytest.mark.parametrize("name, number, match", [
    ("NOTICE", 26, "NOTICE exists already, as 25"),
    ("info", 21, "INFO exists already, as 20"),
    ("LOUDER", 25, "25 is NOTICE already"),
    ("QUIET", 10, "10 is DEBUG already"),
])
def test_a_conflicting_level_is_refused(name, number, match):
    before = fastevlog.levels()
    with pytest.raises(ValueError, match=match):
        fastevlog.add_level(name, number)
    assert fastevlog.levels() == before


@pytest.mark.parametrize("name, number, error, match", [
    ("", 60, ValueError, "name must be letters"),
    ("9LIVES", 60, ValueError, "starting with a letter"),
    ("NO-TICE", 60, ValueError, "letters, digits and underscores"),
    ("NO TICE", 60, ValueError, "letters, digits and underscores"),
    ("SIXTEEN_CHARS_XX", 60, ValueError, "at most 15 characters"),
    ("NOTİCE", 60, ValueError, "letters, digits and underscores"),
    ("NOTICE\n", 60, ValueError, "letters, digits and underscores"),
    (b"NOTICE", 60, TypeError, "name must be a str"),
    (None, 60, TypeError, "name must be a str"),
    ("GOOD", 0, ValueError, "number must be positive"),
    ("GOOD", -5, ValueError, "number must be positive"),
    ("GOOD", 25.5, TypeError, "number must be an int"),
    ("GOOD", True, TypeError, "number must be an int"),
    ("GOOD", "60", TypeError, "number must be an int"),
])
def test_bad_names_and_numbers_are_refused_naming_the_parameter(name, number, error, match):
    before = fastevlog.levels()
    with pytest.raises(error, match=match):
        fastevlog.add_level(name, number)
    assert fastevlog.levels() == before


def test_an_undeclared_level_names_the_known_ones_and_loses_nothing(tmp_path):
    with EventLogCounter(directory=tmp_path) as logger:
        logger.info("before")
        for level in (26, "NOTICED", 0, 25.0, True, None):
            with pytest.raises(ValueError, match=r"the levels are TRACE \(5\), DEBUG \(10\), .*NOTICE "
                                                 r"\(25\).*add_level\(name, number\)"):
                logger.log(level, "bad")
            with pytest.raises(ValueError, match="add_level"):
                logger.log_many([level], ["bad"])
        logger.info("after")
    assert [e["event_id"] for e in read_events(tmp_path)] == ["before", "after"]


def test_numpy_integers_are_levels_but_numpy_bools_are_not(tmp_path):
    np = pytest.importorskip("numpy")
    with EventLogCounter(directory=tmp_path) as logger:
        logger.log(np.int64(25), "a")
        logger.log(np.uint8(20), "b")
        logger.log_many(np.array([25, 40], dtype=np.int32), ["c", "d"])
        logger.log_many([np.int16(45)], ["e"])
        for level in (np.bool_(True), np.float64(20.0)):
            with pytest.raises(ValueError, match="unknown level"):
                logger.log(level, "bad")
    assert [e["level"] for e in read_events(tmp_path)] == ["NOTICE", "INFO", "NOTICE", "ERROR", LONGEST[0]]


def test_at_most_32_levels_and_the_table_stays_usable(tmp_path):
    result = run_python(
        "import fastevlog\n"
        "for i in range(27):\n"
        "    fastevlog.add_level(f'L{i}', 100 + i)\n"
        "try:\n"
        "    fastevlog.add_level('ONE_TOO_MANY', 200)\n"
        "except ValueError as e:\n"
        "    print(e)\n"
        "with fastevlog.EventLogCounter(directory='logs') as logger:\n"
        "    logger.log('L26', 'last', 'm')\n"
        "    logger.log_many(['L0', 126, 'CRITICAL'], ['a', 'b', 'c'])\n"
        "    print(logger.counts()['levels'])\n",
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["add_level(): at most 32 levels can be declared",
                                          "{'CRITICAL': 1, 'L0': 1, 'L26': 2}"]
    assert [e["level"] for e in read_events(tmp_path / "logs")] == ["L26", "L0", "L26", "CRITICAL"]
