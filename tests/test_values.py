"""Field values of every common type as JSON, through log() and log_many() alike.

Each value's line is checked against tests/reference.py byte for byte, against
the JSON text written out by hand where that text is the point (a Decimal's
digits, a datetime's offset), and through json.loads, types included.  Values
JSON cannot hold (cycles, nesting past 64) fail the call before anything is written.
"""

import collections
import datetime
import json
import math
import types
import uuid
from decimal import Decimal
from typing import Any, List

import pytest
from reference import expected_value, json_value
from support import Color, Count, Mode, Shade, Sub, read_events
from test_serializer import SharedLogger, check_line

import fastevlog

MAX_NESTING = 64


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    logs = SharedLogger(tmp_path_factory.mktemp("values"))
    try:
        yield logs
    finally:
        logs.logger.stop()


def same_json(actual: Any, expected: Any) -> None:
    """actual == expected with the same types all the way down (1 is not 1.0 nor True)."""
    assert type(actual) is type(expected), f"{actual!r} is no {type(expected).__name__}"
    if isinstance(expected, list):
        assert len(actual) == len(expected), (actual, expected)
        for a, e in zip(actual, expected):
            same_json(a, e)
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), (actual, expected)
        for key in expected:
            same_json(actual[key], expected[key])
    else:
        assert actual == expected


def written(shared: SharedLogger, value: Any) -> bytes:
    """The JSON text of value as a field, the same through log() and log_many() (and the reference's)."""
    shared.new_lines()
    shared.logger.log("INFO", "e", v=value)
    shared.logger.log_many("INFO", ["e", "e"], v=[value, value])
    one, *many = shared.new_lines()
    obj = check_line(one, "INFO", "e", None, {"v": value})
    same_json(obj["v"], expected_value(value))
    assert many == [one.replace(one[14:41], line[14:41]) for line in many]  # but the timestamps
    assert one.endswith(b',"v":' + json_value(value) + b"}\n")
    return json_value(value)


def assert_refused(shared: SharedLogger, error, match: str, **fields) -> None:
    """log() and log_many() of these fields raise error (matching match) and write and count nothing."""
    shared.new_lines()
    counts = shared.logger.counts()
    with pytest.raises(error, match=match):
        shared.logger.log("INFO", "refused", **fields)
    with pytest.raises(error, match=match):
        shared.logger.log_many("INFO", ["refused", "refused"],
                               **{name: ["fine", value] for name, value in fields.items()})
    assert shared.new_lines() == []
    assert shared.logger.counts() == counts


class Stamp(datetime.datetime):
    def isoformat(self, *args, **kwargs):  # a subclass cannot change what is written
        return "not a date"


class Digits(Decimal):
    def __str__(self):
        return "not a number"


Point = collections.namedtuple("Point", "x y")
UTC = datetime.timezone.utc
INDIA = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
PACIFIC = datetime.timezone(datetime.timedelta(hours=-8))

# (name, value, the JSON text written for it)
TEXTS = [
    ("empty-dict", {}, b"{}"),
    ("empty-list", [], b"[]"),
    ("empty-tuple", (), b"[]"),
    ("dict", {"a": 1, "b": [True, None], "c": {"d": 1.5}}, b'{"a":1,"b":[true,null],"c":{"d":1.5}}'),
    ("list", [1, "two", None, 3.0, float("nan"), 2**70], b'[1,"two",null,3.0,null,1180591620717411303424]'),
    ("tuple", (1, (2, [3])), b"[1,[2,[3]]]"),
    ("namedtuple", Point(1, "y"), b'[1,"y"]'),
    ("escaped-keys-and-strings", {'q"\n\u2028\ud800': 'v"\\\x01'},
     b'{"q\\"\\n\\u2028\xef\xbf\xbd":"v\\"\\\\\\u0001"}'),
    ("odd-keys", {1: "a", None: "b", 2.5: "c", Sub("s"): "e", (1, 2): "f"},
     b'{"1":"a","None":"b","2.5":"c","s":"e","(1, 2)":"f"}'),
    ("bool-key", {True: 1}, b'{"True":1}'),
    ("enum-key", {Shade.LIGHT: 1}, b'{"' + str(Shade.LIGHT).encode() + b'":1}'),
    ("dict-subclass", collections.OrderedDict([("b", 1), ("a", 2)]), b'{"b":1,"a":2}'),
    ("mapping", types.MappingProxyType({"k": [1]}), b'{"k":[1]}'),
    ("naive-datetime", datetime.datetime(2026, 1, 2, 3, 4, 5), b'"2026-01-02T03:04:05"'),
    ("microseconds", datetime.datetime(2026, 1, 2, 3, 4, 5, 60), b'"2026-01-02T03:04:05.000060"'),
    ("utc", datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), b'"2026-01-02T03:04:05+00:00"'),
    ("india", datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=INDIA),
     b'"2026-01-02T03:04:05.123456+05:30"'),
    ("pacific", datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=PACIFIC), b'"2026-01-02T03:04:05-08:00"'),
    ("datetime-subclass", Stamp(2026, 1, 2), b'"2026-01-02T00:00:00"'),
    ("date", datetime.date(2026, 1, 2), b'"2026-01-02"'),
    ("time", datetime.time(3, 4, 5, 6), b'"03:04:05.000006"'),
    ("aware-time", datetime.time(3, 4, tzinfo=INDIA), b'"03:04:00+05:30"'),
    ("timedelta-as-str", datetime.timedelta(days=1), b'"1 day, 0:00:00"'),
    ("uuid", uuid.UUID(int=0x12345678123456781234567812345678), b'"12345678-1234-5678-1234-567812345678"'),
    ("enum-str", Shade.LIGHT, b'"light"'),
    ("enum-int", Shade.NUMBERED, b"7"),
    ("enum-dict", Shade.NESTED, b'{"inner":[1,"fast"]}'),
    ("enum-of-enum", Shade.OF_ENUM, b"1"),
    ("enum-bytes", Shade.OF_BYTES, b'"raw\xef\xbf\xbd"'),
    ("intenum-in-list", [Color.RED, Color.BIG, Mode.FAST, Count(3)], b'[1,1180591620717411303424,"fast",3]'),
    ("decimal", Decimal("1.10"), b"1.10"),
    ("decimal-exponent", Decimal("1E+3"), b"1E+3"),
    ("decimal-minus-zero", Decimal("-0"), b"-0"),
    ("decimal-small", Decimal("-1.5E-10"), b"-1.5E-10"),
    ("decimal-zero-exponent", Decimal("0E-7"), b"0E-7"),
    ("decimal-long", Decimal("12345678901234567890.000000001"), b"12345678901234567890.000000001"),
    ("decimal-nan", Decimal("NaN"), b"null"),
    ("decimal-snan", Decimal("-sNaN"), b"null"),
    ("decimal-infinity", Decimal("-Infinity"), b"null"),
    ("decimal-subclass", Digits("2.50"), b"2.50"),
    ("decimal-in-dict", {"price": Decimal("9.99")}, b'{"price":9.99}'),
    ("bytes", b"plain", b'"plain"'),
    ("bytes-invalid-utf8", b"a\xff\xfeb\xe2\x82", b'"a\xef\xbf\xbd\xef\xbf\xbdb\xef\xbf\xbd"'),
    ("bytes-escapes", b'"\n\x00', b'"\\"\\n\\u0000"'),
    ("bytes-utf8", "\u20ac".encode(), b'"\xe2\x82\xac"'),
    ("bytearray", bytearray(b"ba\x80"), b'"ba\xef\xbf\xbd"'),
    ("memoryview", memoryview(b"mv"), b'"mv"'),
    ("set-as-str", {1}, b'"{1}"'),
]


class TestTypes:
    """Each type is written as its JSON form, by log() and log_many() the same, as the reference says."""

    @pytest.mark.parametrize("value, text", [(v, t) for _, v, t in TEXTS], ids=[name for name, _, _ in TEXTS])
    def test_written_as(self, shared, value, text):
        assert written(shared, value) == text

    def test_nested_everything(self, shared):
        value = {name: [value, {"again": value}] for name, value, _ in TEXTS}
        written(shared, value)
        written(shared, [value, tuple(value.values())])

    def test_long(self, shared):
        # Past the buffer's first growth and log()'s 4 KiB line, into a line of several segments.
        value = {f"key {i}": [i, "\u20ac" * (i % 7), Decimal(i) / 7, datetime.date(2026, 1, 1 + i % 28)]
                 for i in range(5000)}
        written(shared, value)

    def test_message_stays_str(self, shared):
        assert json.loads(shared.emit("INFO", "e", {"a": [1]}))["message"] == "{'a': [1]}"


class TestNesting:
    """64 containers deep is written; deeper, or a cycle, fails naming the field and writes nothing."""

    @staticmethod
    def nested(depth: int, kinds=(list,)) -> Any:
        """depth containers in one another, of kinds in turn, 0 innermost."""
        value: Any = 0
        for level in range(depth):
            kind = kinds[level % len(kinds)]
            value = {"k": value} if kind is dict else kind([value])
        return value

    @pytest.mark.parametrize("kinds", [(list,), (dict,), (tuple,), (list, dict, tuple)],
                             ids=["list", "dict", "tuple", "mixed"])
    def test_limit(self, shared, kinds):
        written(shared, self.nested(MAX_NESTING, kinds))
        assert_refused(shared, ValueError, "field 'deep': nested more than 64 containers deep",
                       deep=self.nested(MAX_NESTING + 1, kinds))

    def test_cycles(self, shared):
        itself: dict = {}
        itself["me"] = itself
        in_a_list: dict = {"list": []}
        in_a_list["list"].append(in_a_list)
        through_a_tuple: list = []
        through_a_tuple.append(({"t": through_a_tuple},))
        deep: list = [self.nested(100)]
        deep[0][0][0].append(deep)  # a cycle longer than the limit: refused as too deep
        listed: list = []
        listed.append(listed)
        for value in (itself, in_a_list, through_a_tuple, listed, [[1, 2], in_a_list]):
            assert_refused(shared, ValueError, "field 'loop': a cycle", loop=value, fine=1)
        assert_refused(shared, ValueError, "field 'loop': ", loop=deep)

    def test_shared_not_cyclic(self, shared):
        inner = [1, {"x": 2}]
        assert written(shared, {"a": inner, "b": inner, "c": [inner, inner]}) == (
            b'{"a":[1,{"x":2}],"b":[1,{"x":2}],"c":[[1,{"x":2}],[1,{"x":2}]]}')


class Raising:
    def __str__(self):
        raise ArithmeticError("no str for this")


class Growing:
    """Its str() adds to the dict being written."""

    def __init__(self, target: dict) -> None:
        self.target = target

    def __str__(self):
        self.target[len(self.target)] = "more"
        return "grown"


class TestErrors:
    """Python code run while encoding may fail the call; it then writes nothing and never crashes."""

    RAISING = [Raising(), [1, Raising()], {"k": Raising()}, {Raising(): 1}, (Raising(),)]

    @pytest.mark.parametrize("value", RAISING,
                             ids=["alone", "in-list", "dict-value", "dict-key", "in-tuple"])
    def test_str_raising(self, shared, value):
        assert_refused(shared, ArithmeticError, "no str for this", v=value)

    def test_dict_changed_while_written(self, shared):
        target: dict = {"a": 1}
        target["b"] = Growing(target)
        shared.new_lines()
        with pytest.raises(RuntimeError):
            shared.logger.log("INFO", "changed", v=target)
        assert shared.new_lines() == []

    def test_list_changed_while_written(self, shared):
        # A list may shrink under the encoder: Python's own iteration rules, no crash.
        target: List[Any] = [1, 2, 3]

        class Shrinking:
            def __str__(self):
                target.clear()
                return "shrunk"

        target.insert(1, Shrinking())
        assert shared.emit("INFO", "e", v=target).endswith(b'"v":[1,"shrunk"]}\n')


class TestNumpy:
    """numpy scalars as numbers and booleans, arrays as (nested) arrays; numpy integers are event ids."""

    DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
              "float16", "float32", "float64", "longdouble", "bool_"]

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_scalars(self, shared, dtype):
        np = pytest.importorskip("numpy")
        kind = getattr(np, dtype)
        floating = dtype.startswith(("float", "long"))
        info = np.finfo(kind) if floating else np.iinfo(kind) if dtype != "bool_" else None
        values = [kind(True), kind(False)]
        if info is not None:
            values += [kind(info.max), kind(info.min), kind(info.max) // 3]
        if floating:
            values += [kind(0.1), kind(-0.0), kind("nan"), kind("inf"), kind(info.tiny) / 4]
        for value in values:
            text = written(shared, value)
            if dtype == "bool_":
                assert text == (b"true" if value else b"false")
            elif floating:  # a longdouble rounded to a double
                assert json.loads(text) == (float(value) if math.isfinite(float(value)) else None)
            else:
                assert text == str(int(value)).encode()
            assert written(shared, [value, {"k": value}]) == b"[" + text + b',{"k":' + text + b"}]"

    def test_float32_as_the_array_column_writes_it(self, shared):
        np = pytest.importorskip("numpy")
        values = np.array([0.1, 1 / 3, 3.4e38, 1e-45, -2.5, np.nan], dtype=np.float32)
        shared.new_lines()
        shared.logger.log_many("INFO", ["e"] * len(values), x=values)
        for value in values:
            shared.logger.log("INFO", "e", x=value)
        lines = shared.new_lines()
        tails = [line.split(b'"x":')[1] for line in lines]
        assert tails[:len(values)] == tails[len(values):]
        assert json.loads(b"[" + b",".join(t.rstrip(b"}\n") for t in tails[:len(values)]) + b"]")[:-1] == [
            float(v) for v in values[:-1]]

    @pytest.mark.parametrize("array", [
        lambda np: np.arange(6).reshape(2, 3),
        lambda np: np.array([0.1, np.nan], dtype=np.float32),
        lambda np: np.array([True, False]),
        lambda np: np.array(7),
        lambda np: np.array([], dtype=np.int64),
        lambda np: np.array([{"a": 1}, None, "s", Decimal("1.5")], dtype=object),
        lambda np: np.array([2**64 - 1], dtype=np.uint64),
        lambda np: np.array([[1.5]]),
    ], ids=["2d-int", "float32", "bool", "0d", "empty", "object", "uint64", "2d-float"])
    def test_arrays(self, shared, array):
        np = pytest.importorskip("numpy")
        value = array(np)
        assert json.loads(written(shared, value)) == expected_value(value.tolist())

    def test_array_in_itself(self, shared):
        np = pytest.importorskip("numpy")
        itself = np.empty(1, dtype=object)
        itself[0] = itself
        assert_refused(shared, ValueError, "field 'a': a cycle", a=itself)

    def test_str_is_a_str(self, shared):
        np = pytest.importorskip("numpy")
        assert written(shared, {"s": np.str_("numpy")}) == b'{"s":"numpy"}'

    @pytest.mark.parametrize("dtype", ["int8", "int64", "uint32", "uint64"])
    def test_integers_as_event_ids(self, tmp_path, dtype):
        np = pytest.importorskip("numpy")
        kind = getattr(np, dtype)
        with fastevlog.EventLogCounter(directory=str(tmp_path)) as logger:
            logger.info(kind(7), "m")
            logger.info(7, "m")
            logger.log_many("INFO", [kind(7), 8, kind(7)])
            logger.log_many("INFO", np.array([7, 8], dtype=kind))
            logger.info(kind(np.iinfo(kind).max))
            counts = logger.counts()["event_ids"]
        assert counts == {7: 5, 8: 2, int(np.iinfo(kind).max): 1}
        assert all(type(key) is int for key in counts)
        assert [event["event_id"] for event in read_events(tmp_path)][:2] == [7, 7]

    def test_bool_is_no_event_id(self, shared):
        np = pytest.importorskip("numpy")
        for call in (lambda: shared.logger.info(np.bool_(True)),
                     lambda: shared.logger.log_many("INFO", [np.bool_(False)])):
            with pytest.raises(TypeError, match="event_id"):
                call()
        assert shared.new_lines() == []
