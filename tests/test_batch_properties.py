"""log_many() against tests/reference.py, byte for byte, for every column kind alone and mixed.

An example draws a few row templates (a level, an id, a message and a value
per column), a batch size and a seed that lays the templates out over the rows,
then calls log_many() once on a new logger and log() once per row on a twin.
Every line log_many() wrote must be the reference line of its row (timestamp
aside), in row order, as must every line log() wrote; counts() must be the
same on both and equal to the reference counts.  Templates keep the reference
cheap at 20,000 rows.  Sizes cross the batch's internal limits (4096 rows
encoded with the GIL held, chunks of 16384) and the 16 KiB segments of a
64 KiB buffer, including rows too large for a segment.
"""

import array
import math
import random
import struct
import tempfile
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import (
    LEVEL_NAMES,
    TIMESTAMP_PLACEHOLDER,
    assert_same_line,
    buffer_values,
    canonical_level,
    level_rank,
    reference_counts,
    reference_line,
    timestamp_of,
)
from support import Color, Count, Mode, Ratio, Sub, json_values, log_paths

from fastevlog import EventLogCounter

try:
    import numpy as np
except ImportError:  # numpy is in the test extras; without it the array.array tests still run
    np = None

needs_numpy = pytest.mark.skipif(np is None, reason="numpy is not installed")

SMALL_BUFFER = 64 * 1024  # four 16 KiB segments: batches cross many segment ends
# Batch sizes: a few rows; enough to cross segment ends; around SMALL_BATCH (up to
# 4096 rows are encoded with the GIL held, more without); around BATCH_CHUNK
# (16384 rows per GIL hold).  The last take ~0.3 s an example: only a few tests draw them.
FEW_ROWS = st.integers(0, 40)
SEGMENTS_OF_ROWS = st.integers(41, 800)
AROUND_SMALL_BATCH = st.sampled_from([4095, 4096, 4097, 5000])
AROUND_CHUNK = st.sampled_from([16385, 20000])  # (16384 itself fits one chunk: nothing to cross)
SIZES = st.one_of(FEW_ROWS, FEW_ROWS, FEW_ROWS, SEGMENTS_OF_ROWS, AROUND_SMALL_BATCH)
# For batches with few columns, cheap enough to run past a chunk often: counts are brought in per chunk.
SIZES_PAST_A_CHUNK = st.one_of(FEW_ROWS, FEW_ROWS, SEGMENTS_OF_ROWS, AROUND_SMALL_BATCH, AROUND_CHUNK)
HEAVY_LINE = 600  # a template with a longer line is laid out on at most two rows of a batch

# Names log() or log_many() take themselves, so not usable as field names in both.
PARAMETER_NAMES = ("level", "event_id", "message", "levels", "event_ids", "messages", "exc_info",
                   "stack_info")

PROPERTY_SETTINGS = dict(deadline=None, database=None,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- values ---------------------------------------------------------------------------

ANY_CHAR = st.one_of(
    st.characters(codec=None, exclude_categories=()),  # every code point, lone surrogates too
    st.characters(max_codepoint=0x7F, exclude_categories=()),  # ASCII, controls included
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=()),
    st.sampled_from('"\\/\x00\x1f\x7f\n\u2028\u2029\ufffd\ufeff\U0001f600\U0010ffff'),
)
SHORT_TEXT = st.text(ANY_CHAR, max_size=24)
# ASCII strings of 8 or more characters take a path of their own, copied a word at a time.
ASCII_TEXT = st.text(st.one_of(st.characters(max_codepoint=0x7F, exclude_categories=()),
                               st.sampled_from('"\\\n\x00\x1f\x7f')), min_size=6, max_size=40)
# Long enough to take most of a segment, or more than one (escapes take up to 6 bytes each).
LONG_TEXT = st.builds(lambda unit, times: unit * times, st.text(ANY_CHAR, min_size=1, max_size=6),
                      st.integers(100, 5000))
TEXT = st.one_of(SHORT_TEXT, SHORT_TEXT, ASCII_TEXT, LONG_TEXT)
KEY = st.text(ANY_CHAR, max_size=12).filter(lambda k: k != "timestamp" and k not in PARAMETER_NAMES)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT64 = st.one_of(st.integers(INT64_MIN, INT64_MAX),
                  st.sampled_from([0, -1, INT64_MAX, INT64_MIN, 2**31, -(2**31) - 1, 2**32, 10**18]))
BIG_INT = st.one_of(st.integers(min_value=2**63), st.integers(max_value=INT64_MIN - 1),
                    st.sampled_from([2**63, 2**64 - 1, 2**64, INT64_MIN - 1, -(2**64), 10**40, -(10**300)]))


MIN_NORMAL = 2.2250738585072014e-308
FLOAT = st.one_of(
    st.floats(),  # nan and infinities included: written as null
    st.floats(min_value=-MIN_NORMAL, max_value=MIN_NORMAL),  # subnormals
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 2.225073858507201e-308, MIN_NORMAL, 1.7976931348623157e308,
                     math.nan, math.inf, -math.inf, 1e16, 9999999999999998.0, 1e-4, 0.0001234, 1e-5,
                     0.1, 1 / 3, 1e22, 123456789012345680.0, -1.5e-300, 0.5, 2.0**-1022, 2.0**1023,
                     2.0**-24, 2.0**-44]),  # their nearest 16 digits read back as another double
)
FLOAT32 = st.floats(width=32)


class Tag(str):
    """A str subclass whose str() is not its value."""

    def __str__(self):
        return "Tag(...)"


class Text:
    """Any object: written as its str(), here any text."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Text({self.text!r})"


class Plain:
    pass


ODD_OBJECTS = [Plain(), b"by\x00tes", bytearray(b"ba"), [1, "two", None], {"a": [True]}, (1, 2), 1 + 2j,
               frozenset(), Text('nasty "quotes"\n\r\t\x00\x1b\\ \u2028 \ud800 end'), Plain, range(3)]
if np is not None:  # numpy scalars are not int or str (np.float64 is a float, np.str_ a str)
    ODD_OBJECTS += [np.int64(-5), np.uint8(7), np.float32(0.1), np.float64(0.1), np.bool_(True),
                    np.str_("numpy str")]

SCALAR_KINDS: Dict[str, st.SearchStrategy] = {
    "str": TEXT,
    "str_subclass": st.one_of(st.builds(Sub, TEXT), st.builds(Tag, TEXT), st.just(Mode.FAST)),
    "int": INT64,
    "int_subclass": st.one_of(st.sampled_from([Color.RED, Color.BIG]), st.builds(Count, INT64),
                              st.builds(Count, BIG_INT)),
    "big_int": BIG_INT,
    "float": FLOAT,
    "float_subclass": st.builds(Ratio, FLOAT),
    "bool": st.booleans(),
    "none": st.none(),
    "object": st.one_of(st.sampled_from(ODD_OBJECTS), st.builds(Text, TEXT),
                        st.builds(Text, st.builds(Tag, SHORT_TEXT))),  # str() gives a str subclass
}
SCALAR_KINDS["json"] = json_values(SHORT_TEXT)  # every type written as JSON, nested
SCALAR_KINDS["mixed"] = st.one_of(*SCALAR_KINDS.values())


def _int_range(signed: bool, size: int) -> st.SearchStrategy:
    low, high = (-(2 ** (8 * size - 1)), 2 ** (8 * size - 1) - 1) if signed else (0, 2 ** (8 * size) - 1)
    return st.one_of(st.integers(low, high), st.sampled_from([low, high, 0, high // 2]))


ARRAY_CODES = "bBhHiIlLqQfd"


def array_item_strategy(code: str) -> st.SearchStrategy:
    """Values an array.array of this type code holds exactly."""
    if code == "f":
        return FLOAT32
    if code == "d":
        return FLOAT
    return _int_range(code.islower(), array.array(code).itemsize)


NUMPY_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float32", "float64", "bool")


def numpy_item_strategy(dtype: str) -> st.SearchStrategy:
    """Values a numpy array of this dtype holds exactly."""
    if dtype == "bool":
        return st.booleans()
    if dtype == "float32":
        return FLOAT32
    if dtype == "float64":
        return FLOAT
    return _int_range(dtype.startswith("int"), int(dtype.lstrip("uint")) // 8)


# -- batches --------------------------------------------------------------------------


@dataclass
class TemplateColumn:
    """One argument of log_many() built from row templates."""

    values: List[Any]                      # per template: what log() is given for it
    build: Callable[[List[int]], Any]      # the argument for rows given as template indices


def _sequence(values: List[Any], container: Callable[[Any], Sequence]) -> TemplateColumn:
    return TemplateColumn(values, lambda rows: container([values[k] for k in rows]))


CONTAINERS = st.sampled_from([list, tuple, deque])


@st.composite
def list_columns(draw, templates: int, values: st.SearchStrategy) -> TemplateColumn:
    """A list, tuple or other sequence of values."""
    return _sequence(draw(st.lists(values, min_size=templates, max_size=templates)), draw(CONTAINERS))


def _laid_out(numbers, layout: str):
    """numbers (a numpy array) as the same values with other strides."""
    if layout == "reversed":  # negative strides
        return numbers[::-1].copy()[::-1]
    if layout == "strided":  # every other item of a larger array
        spread = np.zeros(2 * len(numbers), dtype=numbers.dtype)
        spread[::2] = numbers
        return spread[::2]
    return numbers


@st.composite
def numpy_columns(draw, templates: int, dtype: str) -> TemplateColumn:
    """A 1-D numpy array, contiguous or not."""
    items = np.array(draw(st.lists(numpy_item_strategy(dtype), min_size=templates, max_size=templates)),
                     dtype=dtype)
    layout = draw(st.sampled_from(["contiguous", "reversed", "strided"]))
    return TemplateColumn(buffer_values(items),
                          lambda rows: _laid_out(items[np.asarray(rows, dtype=np.intp)], layout))


@st.composite
def buffer_columns(draw, templates: int, code: str) -> TemplateColumn:
    """An array.array, or a memoryview of one (reversed: negative strides)."""
    items = array.array(code, draw(st.lists(array_item_strategy(code), min_size=templates,
                                            max_size=templates)))
    wrapping = draw(st.sampled_from(["array", "memoryview", "reversed memoryview"]))

    def build(rows: List[int]):
        if wrapping == "reversed memoryview":
            return memoryview(array.array(code, [items[k] for k in reversed(rows)]))[::-1]
        column = array.array(code, [items[k] for k in rows])
        return memoryview(column) if wrapping == "memoryview" else column

    return TemplateColumn(buffer_values(items), build)


def any_column(templates: int) -> st.SearchStrategy:
    """A column of any kind."""
    kinds = [list_columns(templates, values) for values in SCALAR_KINDS.values()]
    kinds += [buffer_columns(templates, code) for code in ARRAY_CODES]
    if np is not None:
        kinds += [numpy_columns(templates, dtype) for dtype in NUMPY_DTYPES]
    return st.one_of(kinds)


LEVEL = st.sampled_from(LEVEL_NAMES + tuple(n.lower() for n in LEVEL_NAMES) + ("Info", "wArNiNg")
                        + (10, 20, 30, 40, 50))
LEVEL_INTS = st.sampled_from([10, 20, 30, 40, 50])


@st.composite
def level_columns(draw, templates: int) -> TemplateColumn:
    """One level for the batch, a sequence of names and ints, or a uint8 array."""
    form = draw(st.sampled_from(["one", "one", "sequence", "uint8 array"]))
    if form == "one":
        level = draw(LEVEL)
        return TemplateColumn([level] * templates, lambda rows: level)
    if form == "sequence":
        return draw(list_columns(templates, LEVEL))
    levels = draw(st.lists(LEVEL_INTS, min_size=templates, max_size=templates))
    if np is not None and draw(st.booleans()):
        return TemplateColumn(levels, lambda rows: np.array([levels[k] for k in rows], dtype=np.uint8))
    return TemplateColumn(levels, lambda rows: array.array("B", [levels[k] for k in rows]))


EVENT_ID_KINDS = {
    "str": SHORT_TEXT,
    "long_str": LONG_TEXT,
    "int": INT64,
    "big_int": BIG_INT,
    "str_subclass": st.one_of(st.builds(Sub, SHORT_TEXT), st.builds(Tag, SHORT_TEXT)),
    "int_subclass": st.one_of(st.sampled_from([Color.RED, Color.BIG]), st.builds(Count, INT64)),
}
if np is not None:  # an integer with __index__ counts as its int
    EVENT_ID_KINDS["numpy_int"] = st.one_of(st.builds(np.int64, INT64),
                                            st.builds(np.uint8, st.integers(0, 255)))
ANY_EVENT_ID = st.one_of(*EVENT_ID_KINDS.values())


@st.composite
def id_columns(draw, templates: int, values: st.SearchStrategy = ANY_EVENT_ID) -> TemplateColumn:
    """Ids as a sequence, or now and then as an integer array."""
    if draw(st.integers(0, 4)) == 0:
        if np is not None and draw(st.booleans()):
            return draw(numpy_columns(templates, draw(st.sampled_from(NUMPY_DTYPES[:8]))))
        return draw(buffer_columns(templates, draw(st.sampled_from("bBhHiIlLqQ"))))
    return draw(list_columns(templates, values))


MESSAGE = st.one_of(st.none(), TEXT, st.builds(Sub, SHORT_TEXT), st.builds(Tag, SHORT_TEXT),
                    SCALAR_KINDS["mixed"])


def no_messages(templates: int) -> st.SearchStrategy:
    return st.just(TemplateColumn([None] * templates, lambda rows: None))


@st.composite
def message_columns(draw, templates: int) -> TemplateColumn:
    """No messages, one str for every row, or one message per row (None leaves the key out)."""
    form = draw(st.sampled_from(["none", "one", "per row"]))
    if form == "none":
        return draw(no_messages(templates))
    if form == "one":
        message = draw(st.one_of(TEXT, st.builds(Sub, SHORT_TEXT), st.builds(Tag, SHORT_TEXT)))
        return TemplateColumn([message] * templates, lambda rows: message)
    return draw(list_columns(templates, MESSAGE))


@dataclass
class Batch:
    """One log_many() call and the log() calls that log the same events."""

    levels: TemplateColumn
    event_ids: TemplateColumn
    messages: TemplateColumn
    fields: Dict[str, TemplateColumn]
    rows: List[int]                # the template of each row
    min_level: str                 # the logger's level
    lines: List[bytes]             # per template: its reference line

    def template_call(self, k: int):
        """(level, event_id, message, fields) as log() takes them for template k."""
        return (self.levels.values[k], self.event_ids.values[k], self.messages.values[k],
                {name: column.values[k] for name, column in self.fields.items()})

    def log_many(self, logger: EventLogCounter) -> None:
        logger.log_many(self.levels.build(self.rows), self.event_ids.build(self.rows),
                        self.messages.build(self.rows),
                        **{name: column.build(self.rows) for name, column in self.fields.items()})

    def log_each(self, logger: EventLogCounter) -> None:
        calls = [self.template_call(k) for k in range(len(self.lines))]
        for k in self.rows:
            level, event_id, message, fields = calls[k]
            logger.log(level, event_id, message, **fields)

    def passing_rows(self) -> List[int]:
        """The rows at or above the logger's level."""
        minimum = level_rank(self.min_level)
        passing = [level_rank(level) >= minimum for level in self.levels.values]
        return [k for k in self.rows if passing[k]]


def _rows(rng: random.Random, size: int, lines: List[bytes], heavy_line: int) -> List[int]:
    """size template indices at random; a template with a line longer than heavy_line is used
    at most twice, so a batch of 20,000 rows stays a few MB."""
    light = [k for k, line in enumerate(lines) if len(line) <= heavy_line]
    heavy = [k for k, line in enumerate(lines) if len(line) > heavy_line]
    if not light:
        rows = (heavy * 2)[:size]
        rng.shuffle(rows)
        return rows
    rows = [rng.choice(light) for _ in range(size)]
    for k in heavy:
        for _ in range(2):
            if rows:
                rows[rng.randrange(len(rows))] = k
    return rows


@st.composite
def batches(draw, columns: Callable[[int], st.SearchStrategy] = lambda templates: st.just({}),
            levels: Callable[[int], st.SearchStrategy] = level_columns,
            event_ids: Callable[[int], st.SearchStrategy] = id_columns,
            messages: Callable[[int], st.SearchStrategy] = message_columns,
            sizes: st.SearchStrategy = SIZES, heavy_line: int = HEAVY_LINE) -> Batch:
    """A batch whose parts come from these strategies (each given the number of templates)."""
    templates = draw(st.integers(1, 6))
    batch = Batch(levels=draw(levels(templates)), event_ids=draw(event_ids(templates)),
                  messages=draw(messages(templates)), fields=draw(columns(templates)), rows=[],
                  min_level=draw(st.sampled_from(LEVEL_NAMES)), lines=[])
    for k in range(templates):
        level, event_id, message, fields = batch.template_call(k)
        batch.lines.append(reference_line(canonical_level(level), event_id, message, fields))
    batch.rows = _rows(random.Random(draw(st.integers(0, 2**32))), draw(sizes), batch.lines, heavy_line)
    return batch


@st.composite
def every_kind_columns(draw, templates: int) -> Dict[str, TemplateColumn]:
    """A column of each kind, named after it."""
    columns = {kind: draw(list_columns(templates, values)) for kind, values in SCALAR_KINDS.items()}
    columns.update((f"array_{code}", draw(buffer_columns(templates, code))) for code in ARRAY_CODES)
    if np is not None:
        columns.update((dtype, draw(numpy_columns(templates, dtype))) for dtype in NUMPY_DTYPES)
    return columns


def named_columns(column: Callable[[int], st.SearchStrategy], most: int = 3):
    """Between one and ``most`` columns from ``column``, under distinct names."""
    @st.composite
    def columns(draw, templates: int) -> Dict[str, TemplateColumn]:
        names = draw(st.lists(KEY, min_size=1, max_size=most, unique=True))
        return {name: draw(column(templates)) for name in names}
    return columns


# -- checking -------------------------------------------------------------------------


def raw_lines(directory: str, log_file: str) -> List[bytes]:
    data = b"".join(path.read_bytes() for path in log_paths(directory, log_file))
    assert data == b"" or data.endswith(b"\n"), f"{log_file} ends in a torn line: {data[-80:]!r}"
    return data.splitlines(keepends=True)


def assert_lines(written: List[bytes], references: List[bytes], who: str) -> None:
    """Each written line is its reference line, timestamp aside (and that well formed)."""
    assert len(written) == len(references), f"{who} wrote {len(written)} lines for {len(references)} rows"
    for row, (line, reference) in enumerate(zip(written, references)):
        # The reference with the line's own stamp compares whole lines at C speed.
        if line != reference.replace(TIMESTAMP_PLACEHOLDER, timestamp_of(line).encode(), 1):
            try:
                assert_same_line(line, reference)
            except AssertionError as error:
                raise AssertionError(f"{who}, line {row}: {error}") from None


def check_batch(batch: Batch) -> None:
    """log_many() writes the reference line of each row that passes the level, in order, as log() does,
    and counts them as log() does."""
    # One writer: the writers are not under test, and each example starts and stops two loggers.
    parameters = dict(buffer_bytes=SMALL_BUFFER, level=batch.min_level, flush_interval=3600,
                      max_file_size=1 << 30, num_workers=1)
    with tempfile.TemporaryDirectory(prefix="fastevlog-batch-") as directory:
        with EventLogCounter(directory=directory, log_file="many", **parameters) as many:
            batch.log_many(many)
        with EventLogCounter(directory=directory, log_file="each", **parameters) as each:
            batch.log_each(each)
        written_by_many = raw_lines(directory, "many")
        written_by_each = raw_lines(directory, "each")

    passing = batch.passing_rows()
    references = [batch.lines[k] for k in passing]
    assert_lines(written_by_many, references, "log_many()")
    assert_lines(written_by_each, references, "log()")
    # Every event of one call carries the time of the call.
    assert len({timestamp_of(line) for line in written_by_many}) <= 1

    expected = reference_counts((batch.levels.values[k], batch.event_ids.values[k], times)
                                for k, times in Counter(passing).items())
    assert many.counts() == expected
    assert each.counts() == expected
    assert many.metrics()["events_logged"] == len(passing)


# -- the tests ------------------------------------------------------------------------


class TestListColumns:
    """Field columns given as sequences, one kind of value each."""

    @pytest.mark.parametrize("kind", list(SCALAR_KINDS))
    @settings(max_examples=6, **PROPERTY_SETTINGS)
    @given(data=st.data())
    def test_kind(self, kind, data):
        check_batch(data.draw(batches(named_columns(lambda k: list_columns(k, SCALAR_KINDS[kind])))))


class TestArrayColumns:
    """Field columns given as 1-D buffers, read item by item: numpy arrays and array.array."""

    @needs_numpy
    @pytest.mark.parametrize("dtype", NUMPY_DTYPES)
    @settings(max_examples=4, **PROPERTY_SETTINGS)
    @given(data=st.data())
    def test_numpy_dtype(self, dtype, data):
        check_batch(data.draw(batches(named_columns(lambda k: numpy_columns(k, dtype)))))

    @pytest.mark.parametrize("code", ARRAY_CODES)
    @settings(max_examples=4, **PROPERTY_SETTINGS)
    @given(data=st.data())
    def test_array_type_code(self, code, data):
        check_batch(data.draw(batches(named_columns(lambda k: buffer_columns(k, code)))))

    @needs_numpy
    @pytest.mark.parametrize("dtype", [">i2", ">u4", ">i8", ">u8", ">f4", ">f8"])
    def test_non_native_byte_order(self, tmp_path, dtype):
        """An array in the other byte order is written as its values, or refused before any row."""
        column = np.array([1, 2, 100, 0], dtype=dtype)
        with EventLogCounter(directory=tmp_path) as logger:
            try:
                logger.log_many("INFO", ["e"] * len(column), k=column)
            except (TypeError, ValueError):
                refused = True
            else:
                refused = False
        lines = raw_lines(str(tmp_path), "async_buffered_logs")
        if refused:
            assert lines == []
            return
        assert len(lines) == len(column)
        for line, value in zip(lines, buffer_values(column)):
            assert_same_line(line, reference_line("INFO", "e", None, {"k": value}))


class TestOtherArguments:
    """Levels, ids and messages in each of their forms."""

    @settings(max_examples=15, **PROPERTY_SETTINGS)
    @given(data=st.data())
    def test_levels_and_filter(self, data):
        check_batch(data.draw(batches(named_columns(lambda k: list_columns(k, INT64), most=1),
                                      event_ids=lambda k: list_columns(k, st.sampled_from("abc")),
                                      messages=no_messages, sizes=SIZES_PAST_A_CHUNK)))

    @pytest.mark.parametrize("kind", list(EVENT_ID_KINDS))
    @settings(max_examples=5, **PROPERTY_SETTINGS)
    @given(data=st.data())
    def test_event_id_kind(self, kind, data):
        check_batch(data.draw(batches(event_ids=lambda k: id_columns(k, EVENT_ID_KINDS[kind]),
                                      sizes=SIZES_PAST_A_CHUNK)))

    @settings(max_examples=15, **PROPERTY_SETTINGS)
    @given(data=st.data())
    def test_messages(self, data):
        check_batch(data.draw(batches()))


class TestMixed:
    """Columns of every kind in one batch."""

    @settings(max_examples=15, **PROPERTY_SETTINGS)
    @given(data=st.data())
    def test_mixed_columns(self, data):
        check_batch(data.draw(batches(named_columns(any_column, most=8))))

    @settings(max_examples=2, **PROPERTY_SETTINGS)
    @given(data=st.data())
    def test_every_kind_across_chunks(self, data):
        """One column of each kind, in batches around the chunk size."""
        check_batch(data.draw(batches(every_kind_columns, sizes=AROUND_CHUNK, heavy_line=3000)))


POWERS_OF_TWO = [sign * 2.0**exponent for exponent in range(-1074, 1024) for sign in (1, -1)]


def assert_floats_are_their_repr(doubles: List[float], singles: List[float]) -> None:
    """One batch writes each double as repr() writes it, from a list (the general value path) and an
    array of doubles, and each float32 (widened) from an array of float32."""
    with tempfile.TemporaryDirectory(prefix="fastevlog-floats-") as directory:
        with EventLogCounter(directory=directory, max_file_size=1 << 30) as logger:
            logger.log_many("INFO", ["f"] * len(doubles), f=doubles, a=array.array("d", doubles),
                            s=array.array("f", singles))
        lines = raw_lines(directory, "async_buffered_logs")
    assert len(lines) == len(doubles)
    assert logger.counts() == {"levels": {"INFO": len(doubles)}, "event_ids": {"f": len(doubles)}}
    wrong = []
    for line, double, single in zip(lines, doubles, singles):
        text, single_text = repr(double).encode(), repr(single).encode()
        if not line.endswith(b',"f":' + text + b',"a":' + text + b',"s":' + single_text + b"}\n"):
            wrong.append((repr(double), repr(single), line[line.index(b',"f":'):]))
    assert wrong == [], f"{len(wrong)} of {len(doubles)} floats written otherwise, e.g. {wrong[:5]}"


def random_floats(rng: random.Random, count: int, pattern: str, bits: int) -> List[float]:
    """count finite floats from random bit patterns (struct ``pattern`` of ``bits`` bits)."""
    floats: List[float] = []
    while len(floats) < count:
        (value,) = struct.unpack(pattern, rng.getrandbits(bits).to_bytes(bits // 8, "little"))
        if math.isfinite(value):
            floats.append(value)
    return floats


class TestFloatText:
    """Floats go through log_many() as repr() writes them."""

    @settings(max_examples=2, **PROPERTY_SETTINGS)
    @given(drawn=st.lists(st.floats(allow_nan=False, allow_infinity=False),
                          max_size=300),
           seed=st.integers(0, 2**32))
    def test_random_doubles_are_their_repr(self, drawn, seed):
        rng = random.Random(seed)
        # Any finite bit pattern: normals of every exponent.
        doubles = drawn + random_floats(rng, 10000, "<d", 64)
        for _ in range(3000):  # exponent bits zero: subnormals, and now and then a zero
            bits = rng.getrandbits(52) | rng.getrandbits(1) << 63
            doubles.append(struct.unpack("<d", bits.to_bytes(8, "little"))[0])
        # Beside each power of two, where the gaps between doubles change.
        doubles += [math.nextafter(power, toward) for power in POWERS_OF_TWO for toward in (0, math.inf)]
        doubles += POWERS_OF_TWO
        assert_floats_are_their_repr(doubles, random_floats(rng, len(doubles), "<f", 32))

    def test_every_power_of_two_is_its_repr(self):
        """Where the nearest decimal does not read back (the gap below a power of two is half the
        gap above), repr() writes the one on the other side; so does the core."""
        assert_floats_are_their_repr(POWERS_OF_TWO, [0.0] * len(POWERS_OF_TWO))
