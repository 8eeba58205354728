"""benchmarks/count.py's own checking: a benchmark that counts wrong must stop, not print a table.

The reference count every tool is compared with, the comparison itself, and one small run end to end.
Nothing here is timed.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections import Counter

import count  # benchmarks/count.py (conftest puts benchmarks/ on sys.path)
import pytest

import fastevlog


def write_lines(path, lines) -> str:
    with open(path, "wb") as file:
        file.write(b"".join(lines))
    return str(path)


def line(stamp: str, level: str = "INFO", event_id: object = "event_1") -> bytes:
    fields = {"timestamp": stamp, "level": level, "event_id": event_id, "message": "m"}
    return json.dumps(fields).encode() + b"\n"


class TestUtcInstant:
    def test_offsets_are_converted_to_utc(self):
        """An offset moves the instant; Z, +00:00 and a lower-case z are the same instant."""
        utc = count.utc_instant("2026-12-03T23:34:19.5Z")
        assert count.utc_instant("2026-12-04T01:34:19.5+02:00") == utc
        assert count.utc_instant("2026-12-03T20:34:19.5-03:00") == utc
        assert count.utc_instant("2026-12-03t23:34:19.500z") == utc

    def test_fractions_order_as_decimals(self):
        """Trailing zeros do not matter and shorter fractions compare by value, at any precision."""
        instants = ["2026-12-03T23:34:19Z", "2026-12-03T23:34:19.09Z", "2026-12-03T23:34:19.1Z",
                    "2026-12-03T23:34:19.1000000000001Z", "2026-12-03T23:34:19.12Z", "2026-12-03T23:34:20Z"]
        assert sorted(instants, key=count.utc_instant) == instants
        assert count.utc_instant("2026-12-03T23:34:19.100Z") == count.utc_instant("2026-12-03T23:34:19.1Z")

    @pytest.mark.parametrize("text", ["2026-12-03T23:34:60Z", "2026-12-03T24:00:00Z", "2026-02-30T00:00:00Z",
                                      "2026-12-03T23:34:19+05:75", "2026-12-03T23:34:19", "2026-12-03",
                                      "2026-12-03T23:34:19.Z"])
    def test_not_rfc3339(self, text):
        """What is not an RFC 3339 instant is None (a bad line when time is asked)."""
        assert count.utc_instant(text) is None


class TestReference:
    def test_modes(self, tmp_path):
        """Blank lines skipped, bad and torn lines not counted, minutes in UTC, the window [since, until)."""
        first = write_lines(tmp_path / "a.log", [
            line("2026-12-03T23:34:19.000000Z"),            # the window's since: inside
            b"\n",
            line("2026-12-03T23:34:59.999999Z", "ERROR", 7),
            b"not json\n",
            b'{"level": "INFO"}\n',                          # no event_id
            line("2026-12-04T01:35:00.000001+02:00"),        # 23:35 UTC, after the window
            line("not a time"),                              # counted by key only
            b'{"level": "INFO", "event_id": "torn"',         # no newline: a torn last line
        ])
        second = write_lines(tmp_path / "b.log", [line("2026-12-03T23:35:00.000000Z")])  # until: outside
        reference = count.count_reference([first, second], "2026-12-03T23:34:19Z", "2026-12-03T23:35:00Z",
                                          json.loads)
        assert reference.plain == {("INFO", "event_1"): 4, ("ERROR", 7): 1}
        assert reference.per_file[second] == {("INFO", "event_1"): 1}
        assert reference.minute == {("2026-12-03T23:34Z",): 2, ("2026-12-03T23:35Z",): 2}
        assert reference.window == {("INFO", "event_1"): 1, ("ERROR", 7): 1}
        assert reference.newlines == 8
        assert reference.bad_lines == 3
        assert reference.groups("sample", [second]) == {("INFO", "event_1"): 1}

    def test_early_years_in_four_digits(self, tmp_path):
        """A minute of year 999 is 0999-..., as the issue's key format says."""
        path = write_lines(tmp_path / "a.log", [line("0999-01-02T03:04:05Z")])
        reference = count.count_reference([path], "0999-01-01T00:00:00Z", "0999-01-03T00:00:00Z", json.loads)
        assert reference.minute == {("0999-01-02T03:04Z",): 1}
        assert reference.window == {("INFO", "event_1"): 1}


class TestCheck:
    def setup_method(self):
        self.reference = count.Reference()
        self.reference.plain = Counter({("INFO", "event_0"): 3, ("ERROR", 1): 2})
        self.reference.newlines = 5
        self.row = count.Row("duckdb", "DuckDB")

    def test_equal_groups_pass(self):
        """Groups in any order, split across rows of the same key, are the same count."""
        answer = {"groups": [["ERROR", 1, 1], ["INFO", "event_0", 3], ["ERROR", 1, 1]]}
        count.check(self.row, answer, self.reference.plain, self.reference)
        count.check(self.row, {"newlines": 5}, self.reference.plain, self.reference)

    @pytest.mark.parametrize("answer", [
        {"groups": [["INFO", "event_0", 3], ["ERROR", 1, 1]]},                           # one short
        {"groups": [["INFO", "event_0", 3]]},                                             # a group missing
        {"groups": [["INFO", "event_0", 3], ["ERROR", 1, 2], ["WARNING", "x", 1]]},       # one too many
        {"groups": [["INFO", "event_0", 3], ["ERROR", "1", 2]]},                         # the id's type lost
        {"newlines": 4},
    ])
    def test_a_wrong_count_stops_the_run(self, answer):
        """Any difference from the reference raises SystemExit naming the tool."""
        with pytest.raises(SystemExit, match="COUNT MISMATCH: DuckDB"):
            count.check(self.row, answer, self.reference.plain, self.reference)


def test_window_holds_about_half(tmp_path):
    """The window chosen from sampled timestamps holds about the middle half of the lines."""
    lines = [line(f"2026-12-03T23:{k // 60:02d}:{k % 60:02d}.{k:06d}Z") for k in range(3000)]
    path = write_lines(tmp_path / "a.log", lines)
    since, until = count.choose_window([path], json.loads)
    reference = count.count_reference([path], since, until, json.loads)
    assert 0.4 < sum(reference.window.values()) / 3000 < 0.6


@pytest.mark.skipif(not hasattr(fastevlog, "count") or not hasattr(fastevlog._core, "CountScanner"),
                    reason="fastevlog.count() and its scanner are not in this build")
def test_a_small_run(tmp_path, capsys):
    """A whole run on 20,000 events: every row available here runs, is checked, and is reported."""
    tools = ["fastevlog", "cli", "minute", "window", "json", "floor"]
    optional = (("orjson", "orjson"), ("zst", "zstandard"), ("duckdb", "duckdb"),
                ("duckdb-columns", "duckdb"), ("polars", "polars"), ("zst-floor", "zstandard"))
    tools += [name for name, module in optional if importlib.util.find_spec(module)]
    figures = tmp_path / "count.json"
    count.main(["--events", "20000", "--dir", str(tmp_path / "logs"), "--rounds", "1", "--sample-mb", "1",
                "--tools", ",".join(tools), "--json", str(figures)])
    printed = capsys.readouterr().out
    assert "20,000 events" in printed
    saved = json.loads(figures.read_text())
    ran = {row["name"] for row in saved["rows"] if row["median_seconds"] is not None}
    assert ran == set(tools)
    assert saved["input"]["events"] == 20_000
    assert os.path.isdir(tmp_path / "logs-zst") == ("zst" in tools)
