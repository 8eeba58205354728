"""atheris fuzz target for the serializer: any input is one line, valid JSON, equal to the input.

Not part of the test run.  With the test extras installed:

    pip install atheris
    python tests/fuzz/fuzz_serializer.py -atheris_runs=200000     # or -max_total_time=600

(with the package installed, or PYTHONPATH pointing at an in-place build).

A failure prints the input; it is also kept by libFuzzer as crash-* in the current directory.
"""

import datetime
import decimal
import json
import math
import os
import sys
import tempfile
import uuid

import atheris

with atheris.instrument_imports():
    import fastevlog

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from reference import expected_value  # noqa: E402

DIRECTORY = tempfile.mkdtemp(prefix="fastevlog-fuzz-")
LOGGER = fastevlog.EventLogCounter(directory=DIRECTORY, flush_interval=3600, max_file_size=1 << 40)
READ = {"path": None, "offset": 0}


def _value(data: atheris.FuzzedDataProvider, depth: int = 0):
    kind = data.ConsumeIntInRange(0, 12)
    if kind == 0:
        return data.ConsumeUnicodeNoSurrogates(40) if data.ConsumeBool() else data.ConsumeUnicode(40)
    if kind == 1:
        return data.ConsumeInt(16)
    if kind == 2:
        return data.ConsumeFloat()
    if kind == 3:
        return data.ConsumeBool()
    if kind == 4:
        return None
    if kind == 5:
        return data.ConsumeBytes(8)  # written as a string, invalid UTF-8 as U+FFFD
    if kind == 6:
        return _decimal(data)
    if kind == 7:
        return datetime.datetime.fromtimestamp(data.ConsumeIntInRange(0, 2**33) / 1000,
                                               None if data.ConsumeBool() else datetime.timezone.utc)
    if kind == 8:
        return uuid.UUID(bytes=data.ConsumeBytes(16).ljust(16, b"\0"))
    if depth >= 3:
        return [data.ConsumeInt(2)]
    items = [_value(data, depth + 1) for _ in range(data.ConsumeIntInRange(0, 3))]
    if kind == 9:
        return items
    if kind == 10:
        return tuple(items)
    return {data.ConsumeUnicode(6) if data.ConsumeBool() else data.ConsumeInt(1): item for item in items}


def _decimal(data: atheris.FuzzedDataProvider) -> decimal.Decimal:
    """A Decimal from fuzzed text, or from an int and an exponent when the text is none."""
    try:
        return decimal.Decimal(data.ConsumeUnicodeNoSurrogates(12))
    except decimal.InvalidOperation:
        return decimal.Decimal(data.ConsumeInt(8)).scaleb(data.ConsumeIntInRange(-400, 400))


def _new_line() -> bytes:
    """The line the last flush added (there is one log file: its size limit is never reached)."""
    if READ["path"] is None:
        READ["path"] = next(p.path for p in os.scandir(DIRECTORY) if p.name.endswith(".log"))
    with open(READ["path"], "rb") as file:
        file.seek(READ["offset"])
        line = file.read()
    READ["offset"] += len(line)
    return line


def test_one_input(raw: bytes) -> None:
    data = atheris.FuzzedDataProvider(raw)
    event_id = data.ConsumeUnicode(20) if data.ConsumeBool() else data.ConsumeInt(9)
    message = data.ConsumeUnicode(60) if data.ConsumeBool() else None
    fields = {}
    for _ in range(data.ConsumeIntInRange(0, 4)):
        key = data.ConsumeUnicode(12)
        if key not in ("timestamp", "level", "event_id", "message"):
            fields[key] = _value(data)
    LOGGER.log("INFO", event_id, message, **fields)
    LOGGER.flush()
    line = _new_line()
    assert line.endswith(b"\n") and line.count(b"\n") == 1, line
    event = json.loads(line)
    assert event["event_id"] == expected_value(event_id)
    assert event.get("message") == (None if message is None else expected_value(message))
    written_keys = [expected_value(key) for key in fields]
    if len(set(written_keys)) < len(written_keys):
        return  # two keys differing only in lone surrogates both become U+FFFD: json.loads keeps one
    for key, value in fields.items():
        got, want = event[expected_value(key)], expected_value(value)
        assert got == want or (isinstance(want, float) and math.isnan(want) and got is None), (key, got, want)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
