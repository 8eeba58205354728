"""atheris fuzz target for log_many(): any batch is one valid JSON line per row that passes the level,
equal to tests/reference.py's line for that row, in row order, and counted.

The fuzzer's bytes choose a few row templates (level, id, message, a value per
column), the columns' kinds (str, int, big int, float from raw bits, bool, None,
objects, numpy arrays and array.array filled with raw bytes, mixed lists), the
forms of levels, ids and messages, and a batch size; now and then one around the
batch's internal limits (4096 rows, chunks of 16384).

Not part of the test run.  With the test extras installed:

    pip install atheris
    python tests/fuzz/fuzz_log_many.py -atheris_runs=20000     # or -max_total_time=600

(with the package installed, or PYTHONPATH pointing at an in-place build).

A failure prints the input; it is also kept by libFuzzer as crash-* in the current directory.
"""

import array
import json
import os
import random
import shutil
import struct
import sys
import tempfile
from collections import Counter
from pathlib import Path

import atheris

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

# The core is not instrumented (it is C); the reference is: its branches (each
# kind of character and value) steer the fuzzer towards inputs of new kinds.
with atheris.instrument_imports():
    from reference import (
        assert_same_line,
        buffer_values,
        canonical_level,
        level_rank,
        reference_counts,
        reference_line,
    )

    import fastevlog

try:
    import numpy as np
except ImportError:  # the numpy column kinds are left out
    np = None

# An exhausted input reads as zeros: the first choices are the ones that write something.
LEVELS = ("INFO", "Warning", "error", "CRITICAL", "DEBUG", "debug", 20, 30, 40, 50, 10)
LEVEL_NUMBERS = (20, 30, 40, 50, 10)
MIN_LEVEL = "INFO"  # the DEBUG rows are filtered out
ARRAY_CODES = "bBhHiIlLqQfd"
NUMPY_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float32", "float64", "bool")
HEAVY_LINE = 600  # a batch with a longer line is cut to two rows per template: sizes stay a few MB
# A new logger every so many inputs keeps its file and its distinct ids (counted by
# name only up to a bound) small over a long run.
INPUTS_PER_LOGGER = 2000


class Text:
    """Any object: written as its str()."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


class Sub(str):
    pass


class Number(int):
    pass


class Logger:
    """The logger under test and where its lines are read back from."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="fastevlog-fuzz-many-")
        self.logger = fastevlog.EventLogCounter(directory=self.directory, buffer_bytes=64 * 1024,
                                                level=MIN_LEVEL, flush_interval=3600,
                                                max_file_size=1 << 40, num_workers=1)
        self.offset = 0
        self.inputs = 0

    def new_lines(self):
        """The lines written since the last call (one log file: its size limit is never reached)."""
        self.logger.flush()
        paths = list(Path(self.directory).glob("*.log"))
        if not paths:
            return []
        (path,) = paths
        with open(path, "rb") as file:
            file.seek(self.offset)
            data = file.read()
        self.offset += len(data)
        assert data == b"" or data.endswith(b"\n"), data[-200:]
        return data.splitlines(keepends=True)

    def close(self) -> None:
        self.logger.stop()
        shutil.rmtree(self.directory)


CURRENT = {"logger": None}


# The fuzzer learns from the coverage of these builders (each branch a kind or a
# form) which inputs reach new kinds of batch; the core's own branches it cannot see.
@atheris.instrument_func
def _text(data: atheris.FuzzedDataProvider) -> str:
    form = data.ConsumeIntInRange(0, 15)
    if form == 0:  # long: most of a segment, or more than one
        return data.ConsumeUnicode(4) * data.ConsumeIntInRange(100, 5000)
    if form < 4:  # ASCII: copied a word at a time when 8 characters or more
        return bytes(byte & 0x7F for byte in data.ConsumeBytes(data.ConsumeIntInRange(0, 40))).decode("ascii")
    return data.ConsumeUnicode(24) if data.ConsumeBool() else data.ConsumeUnicodeNoSurrogates(24)


# Doubles where a formatter goes wrong first: zeros, subnormals, the ends of fixed notation, powers of two.
SPECIAL_DOUBLES = [0.0, -0.0, 5e-324, -5e-324, 2.225073858507201e-308, 2.2250738585072014e-308,
                   1.7976931348623157e308, 1e16, 9999999999999998.0, 1e-4, 9.999999999999999e-05, 0.1,
                   1 / 3, 0.5, 1.0, 2.0**-24, 2.0**60, float("nan"), float("inf"), float("-inf")]
SCALAR_KINDS = 13


@atheris.instrument_func
def _scalar(data: atheris.FuzzedDataProvider, kind: int):
    """A value of one kind (0 .. SCALAR_KINDS - 1)."""
    if kind == 0:
        return _text(data)
    if kind == 1:
        return data.ConsumeIntInRange(-(2**63), 2**63 - 1)
    if kind == 2:
        return data.ConsumeInt(data.ConsumeIntInRange(9, 40))  # mostly beyond 64 bits
    if kind == 3:
        return struct.unpack("<d", data.ConsumeBytes(8).ljust(8, b"\0"))[0]  # any bit pattern
    if kind == 4:
        return data.PickValueInList(SPECIAL_DOUBLES)
    if kind == 5:
        return data.ConsumeFloat()
    if kind == 6:
        return data.ConsumeBool()
    if kind == 7:
        return None
    if kind == 8:
        return Text(_text(data))
    if kind == 9:
        return data.ConsumeBytes(6)
    if kind == 10:
        return Sub(_text(data))
    if kind == 11:
        return Number(data.ConsumeInt(9))
    return Text(Sub(_text(data)))  # str() gives a str subclass


def _mixed(data: atheris.FuzzedDataProvider):
    return _scalar(data, data.ConsumeIntInRange(0, SCALAR_KINDS - 1))


@atheris.instrument_func
def _column(data: atheris.FuzzedDataProvider, templates: int):
    """(the value log() would get per template, build(rows) -> the column log_many() gets)."""
    kind = data.ConsumeIntInRange(0, SCALAR_KINDS + (1 if np is None else 2))
    if kind <= SCALAR_KINDS:  # a list or tuple of one kind of value, or of any
        values = [_scalar(data, kind) if kind < SCALAR_KINDS else _mixed(data) for _ in range(templates)]
        container = list if data.ConsumeBool() else tuple
        return values, lambda rows: container([values[k] for k in rows])
    if kind == SCALAR_KINDS + 1:
        code = ARRAY_CODES[data.ConsumeIntInRange(0, len(ARRAY_CODES) - 1)]
        items = array.array(code)
        size = templates * items.itemsize
        items.frombytes(data.ConsumeBytes(size).ljust(size, b"\0"))
        return buffer_values(items), lambda rows: array.array(code, [items[k] for k in rows])
    # Raw bytes: any float bit pattern, and bools that are neither 0 nor 1 (as any C code may leave).
    dtype = np.dtype(NUMPY_DTYPES[data.ConsumeIntInRange(0, len(NUMPY_DTYPES) - 1)])
    size = templates * dtype.itemsize
    items = np.frombuffer(data.ConsumeBytes(size).ljust(size, b"\0"), dtype=dtype)
    reverse = data.ConsumeBool()

    def build(rows):
        column = items[np.asarray(rows, dtype=np.intp)]
        return column[::-1].copy()[::-1] if reverse else column  # negative strides

    return buffer_values(items), build


@atheris.instrument_func
def _levels(data: atheris.FuzzedDataProvider, templates: int):
    form = data.ConsumeIntInRange(0, 2)
    if form == 0:
        level = LEVELS[data.ConsumeIntInRange(0, len(LEVELS) - 1)]
        return [level] * templates, lambda rows: level
    if form == 1:
        levels = [LEVELS[data.ConsumeIntInRange(0, len(LEVELS) - 1)] for _ in range(templates)]
        return levels, lambda rows: [levels[k] for k in rows]
    numbers = [LEVEL_NUMBERS[data.ConsumeIntInRange(0, 4)] for _ in range(templates)]
    return numbers, lambda rows: array.array("B", [numbers[k] for k in rows])


@atheris.instrument_func
def _event_ids(data: atheris.FuzzedDataProvider, templates: int):
    form = data.ConsumeIntInRange(0, 5)
    if form == 0:
        items = array.array("q", [data.ConsumeIntInRange(-(2**63), 2**63 - 1) for _ in range(templates)])
        return list(items), lambda rows: array.array("q", [items[k] for k in rows])
    make = [lambda: data.ConsumeUnicode(20), lambda: data.ConsumeInt(8), lambda: data.ConsumeInt(20),
            lambda: Sub(data.ConsumeUnicode(10)), lambda: Number(data.ConsumeInt(4))][form - 1]
    ids = [make() for _ in range(templates)]
    return ids, lambda rows: [ids[k] for k in rows]


@atheris.instrument_func
def _messages(data: atheris.FuzzedDataProvider, templates: int):
    form = data.ConsumeIntInRange(0, 2)
    if form == 0:
        return [None] * templates, lambda rows: None
    if form == 1:
        message = _text(data)
        return [message] * templates, lambda rows: message
    messages = [_mixed(data) for _ in range(templates)]
    return messages, lambda rows: [messages[k] for k in rows]


@atheris.instrument_func
def _size(data: atheris.FuzzedDataProvider) -> int:
    where = data.ConsumeIntInRange(0, 63)
    if where == 47:
        return 0
    if where < 48:
        return data.ConsumeIntInRange(1, 40)
    if where < 60:
        return data.ConsumeIntInRange(41, 800)  # across segment ends
    if where < 63:
        return data.ConsumeIntInRange(4094, 4100)  # around the batch encoded with the GIL held
    return data.ConsumeIntInRange(16383, 16386)  # around a chunk


def _counts_since(before, after):
    return {part: {key: n - before[part].get(key, 0) for key, n in after[part].items()
                   if n != before[part].get(key, 0)} for part in after}


def _reject_constant(name: str):
    raise ValueError(f"non-JSON constant {name}")


def test_one_input(raw: bytes) -> None:
    data = atheris.FuzzedDataProvider(raw)
    templates = data.ConsumeIntInRange(1, 8)
    levels, build_levels = _levels(data, templates)
    ids, build_ids = _event_ids(data, templates)
    messages, build_messages = _messages(data, templates)
    columns = {}
    for _ in range(data.ConsumeIntInRange(0, 6)):
        name = data.ConsumeUnicode(10)
        if name not in ("timestamp", "levels", "event_ids", "messages"):
            columns[name] = _column(data, templates)
    lines = [reference_line(canonical_level(levels[k]), ids[k], messages[k],
                            {name: values[k] for name, (values, _) in columns.items()})
             for k in range(templates)]
    size = _size(data)
    if max(len(line) for line in lines) > HEAVY_LINE:
        size = min(size, 2 * templates)
    rng = random.Random(data.ConsumeInt(4))
    rows = [rng.randrange(templates) for _ in range(size)]

    if CURRENT["logger"] is None or CURRENT["logger"].inputs >= INPUTS_PER_LOGGER:
        if CURRENT["logger"] is not None:
            CURRENT["logger"].close()
        CURRENT["logger"] = Logger()
    target = CURRENT["logger"]
    target.inputs += 1
    before = target.logger.counts()
    target.logger.log_many(build_levels(rows), build_ids(rows), build_messages(rows),
                           **{name: build(rows) for name, (_, build) in columns.items()})
    written = target.new_lines()

    minimum = level_rank(MIN_LEVEL)
    passing = [k for k in rows if level_rank(levels[k]) >= minimum]
    assert len(written) == len(passing), (len(written), len(passing))
    for line, k in zip(written, passing):
        json.loads(line, parse_constant=_reject_constant)
        assert_same_line(line, lines[k])
    expected = reference_counts((levels[k], ids[k], times) for k, times in Counter(passing).items())
    assert _counts_since(before, target.logger.counts()) == expected


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
