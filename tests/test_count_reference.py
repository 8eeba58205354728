"""tests/count_reference.py checked by hand: small inputs whose counts are written out literally.

The reference is the oracle of the compiled counter, so it must not be its own oracle: every expected
figure here is stated, not computed.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime, timezone

import pytest
from count_corpus import (
    LEVELS,
    crlf,
    damaged_sources,
    escaped_id_line,
    fastevlog_shaped_line,
    fastevlog_sources,
    hostile_events,
    nul_gap,
    other_writer_sources,
    simulate_sources,
    sources,
)
from count_reference import MAX_NESTING, Result, as_json, count_reference, sorted_groups
from hypothesis import given, settings
from hypothesis import strategies as st

INFO_A = b'{"level":"INFO","event_id":"a"}\n'
ERROR_B = b'{"level":"ERROR","event_id":"b"}\n'


def count(data: bytes, **options) -> Result:
    return count_reference([("s", data)], **options)


def line(timestamp: str, level: str = "INFO", event_id: str = "a", **fields) -> bytes:
    return json.dumps(dict(timestamp=timestamp, level=level, event_id=event_id, **fields)).encode() + b"\n"


class TestLines:
    def test_newlines_split_lines(self):
        """Each newline ends a line."""
        result = count(INFO_A + ERROR_B + INFO_A)
        assert (result.total, result.bad_lines, result.files, result.bytes) == (3, 0, 1, 97)
        assert result.groups == {("INFO", "a"): 2, ("ERROR", "b"): 1}

    def test_crlf(self):
        """A CR before the newline is part of the line ending."""
        result = count(b'{"level":"INFO","event_id":"a"}\r\n' * 2)
        assert (result.total, result.bad_lines) == (2, 0)
        assert result.groups == {("INFO", "a"): 2}

    def test_blank_lines_are_skipped(self):
        """Lines of spaces, tabs and CRs are neither counted nor bad."""
        result = count(b"\n\r\n \t \n" + INFO_A + b"\n")
        assert (result.total, result.bad_lines) == (1, 0)

    def test_torn_last_line_is_bad(self):
        """A last line without its newline is bad."""
        result = count(INFO_A + b'{"level":"ERR')
        assert (result.total, result.bad_lines) == (1, 1)

    def test_unterminated_whole_object_is_bad(self):
        """A last line without its newline is bad even when it is a whole object."""
        result = count(INFO_A + INFO_A.rstrip(b"\n"))
        assert (result.total, result.bad_lines) == (1, 1)

    def test_unterminated_whitespace_is_nothing(self):
        """A last piece of whitespace only (a CRLF ending cut before its LF) is not a bad line."""
        result = count(INFO_A + b"\r")
        assert (result.total, result.bad_lines) == (1, 0)

    def test_empty_source(self):
        """An empty source is one file of nothing."""
        result = count_reference([("empty", b""), ("s", INFO_A)])
        assert (result.files, result.total, result.bad_lines, result.bytes) == (2, 1, 0, 32)


class TestNulGap:
    def test_stops_at_the_first_nul(self):
        """Whole lines after a NUL range are not counted, not even as bad."""
        result = count(INFO_A + b"\0" * 10 + ERROR_B + b"garbage\n")
        assert (result.total, result.bad_lines, result.bytes) == (1, 0, 32)
        assert result.groups == {("INFO", "a"): 1}

    def test_gap_at_offset_zero(self):
        """A file whose start is not written yet counts nothing."""
        result = count(b"\0" * 4096 + INFO_A)
        assert (result.total, result.bad_lines, result.bytes, result.files) == (0, 0, 0, 1)

    def test_piece_before_the_gap_is_a_torn_line(self):
        """What precedes the first NUL after the last newline is a torn last line."""
        result = count(INFO_A + b'{"lev' + b"\0\0" + INFO_A)
        assert (result.total, result.bad_lines, result.bytes) == (1, 1, 37)

    def test_nul_inside_a_line(self):
        """A NUL in a line ends the source there too: the line is torn."""
        result = count(b'{"level":"INFO","event_id":"a\0"}\n' + INFO_A)
        assert (result.total, result.bad_lines) == (0, 1)


BAD_LINES = [
    b"[]", b"null", b'"text"', b"17",
    b'{"event_id":"a"}',  # no level
    b'{"level":1,"event_id":"a"}', b'{"level":null,"event_id":"a"}', b'{"level":["INFO"],"event_id":"a"}',
    b'{"level":"INFO"}',  # no event id
    b'{"level":"INFO","event_id":7.0}', b'{"level":"INFO","event_id":1e3}',
    b'{"level":"INFO","event_id":true}', b'{"level":"INFO","event_id":null}',
    b'{"level":"INFO","event_id":[1]}', b'{"level":"INFO","event_id":{}}',
    b'{"level":"INFO","event_id":"\xff"}',  # not UTF-8
    b'{"level":"INFO","event_id":"\xed\xa0\x80"}',  # an encoded surrogate is not UTF-8
    b'{"level":"INFO","event_id":"\xc0\xaf"}',  # an overlong form is not UTF-8
    b'\xef\xbb\xbf{"level":"INFO","event_id":"a"}',  # a BOM
    b'{"level":"INFO","event_id":"a","x":NaN}', b'{"level":"INFO","event_id":"a","x":-Infinity}',
    b'{"level":"INFO","event_id":"a"', b'{"level":"INFO","event_id":"a",}',
    b'{"level":"INFO","event_id":"a"}x',
    b"{'level':'INFO','event_id':'a'}", b'{"level":"INFO","event_id":"a\x01"}',  # a raw control character
    b'{"level":"INFO","event_id":"a","deep":' + b"[" * MAX_NESTING + b"]" * MAX_NESTING + b"}",
]


class TestBadLines:
    @pytest.mark.parametrize("bad", BAD_LINES)
    def test_bad_line(self, bad: bytes):
        """A line that is not an object with a string level and a string or integer id is bad."""
        result = count(INFO_A + bad + b"\n" + INFO_A)
        assert (result.total, result.bad_lines) == (2, 1)
        assert result.groups == {("INFO", "a"): 2}

    @pytest.mark.parametrize("good, key", [
        (b'{"level":"","event_id":"a"}', ("", "a")),
        (b'{"level":"INFO","event_id":-0}', ("INFO", 0)),
        (b' {"event_id" : 5 , "level" : "x"} ', ("x", 5)),
        (b'{"level":"INFO","event_id":"a","deep":' + b"[" * (MAX_NESTING - 1) + b"]" * (MAX_NESTING - 1)
         + b"}", ("INFO", "a")),
        (b'{"level":"INFO","event_id":"a","x":[{}],"deep":' + b"[" * (MAX_NESTING - 1)
         + b"]" * (MAX_NESTING - 1) + b"}", ("INFO", "a")),
        (b'{"level":"INFO","event_id":"a","brackets":"' + b"[" * 600 + b'"}', ("INFO", "a")),
        (b'{"level":"INFO","event_id":1' + b"0" * 5000 + b"}", ("INFO", 10 ** 5000)),
    ])
    def test_good_line(self, good: bytes, key):
        """Empty levels, int ids (-0, 5,001 digits), spaces and the deepest nesting allowed count."""
        result = count(good + b"\n")
        assert (result.total, result.bad_lines) == (1, 0)
        assert result.groups == {key: 1}

    def test_long_int_id_in_globs_and_json(self):
        """A 5,001-digit id passes a glob on its decimal text and is written whole in the JSON."""
        data = b'{"level":"INFO","event_id":1' + b"0" * 5000 + b',"n":[1' + b"0" * 5000 + b"]}\n"
        assert count(data, event_id_glob="1*0").total == 1
        assert count(data, event_id_glob="2*").total == 0
        assert count(data, by="field:n").groups == {("[1" + "0" * 5000 + "]",): 1}
        assert '"event_id": 1' + "0" * 5000 + ", " in as_json(count(data), "level,event_id")

    def test_invalid_json_in_an_unread_field(self):
        """The whole line must be JSON, not only the fields counted."""
        result = count(b'{"level":"INFO","event_id":"a","x":[1,]}\n')
        assert (result.total, result.bad_lines) == (0, 1)


class TestValues:
    def test_escaped_id_counts_with_the_plain_one(self):
        """"a\\u0062", "\\u0061b" and "ab" are one id."""
        result = count(escaped_id_line("INFO", '"a\\u0062"') + escaped_id_line("INFO", '"\\u0061b"')
                       + escaped_id_line("INFO", '"ab"'))
        assert result.groups == {("INFO", "ab"): 3}

    def test_escaped_key(self):
        """An escaped key name is the name it spells."""
        result = count(b'{"lev\\u0065l":"INFO","event\\u005fid":"a"}\n')
        assert result.groups == {("INFO", "a"): 1}

    def test_duplicate_keys_keep_the_last(self):
        """A key written twice has its last value, as json.loads keeps it."""
        result = count(b'{"level":"INFO","event_id":"a","level":"ERROR","event_id":7}\n'
                       b'{"level":"INFO","event_id":"a","event_id":null}\n'
                       b'{"level":7,"event_id":"a","level":"INFO"}\n')
        assert (result.groups, result.bad_lines) == ({("ERROR", 7): 1, ("INFO", "a"): 1}, 1)

    def test_lone_surrogate_is_u_fffd(self):
        """An escaped lone surrogate counts as U+FFFD, the id the logger writes for one."""
        result = count(escaped_id_line("INFO", '"\\ud800"') + escaped_id_line("INFO", '"\\udfff"')
                       + escaped_id_line("INFO", '"\ufffd"'))
        assert result.groups == {("INFO", "\ufffd"): 3}

    def test_surrogate_pair_is_one_code_point(self):
        """An escaped surrogate pair is the code point it encodes."""
        result = count(escaped_id_line("INFO", '"\\ud83d\\ude00"') + escaped_id_line("INFO", '"\U0001F600"'))
        assert result.groups == {("INFO", "\U0001F600"): 2}

    def test_int_and_str_ids_are_apart(self):
        """7 and "7" are two ids."""
        result = count(escaped_id_line("INFO", "7") + escaped_id_line("INFO", '"7"')
                       + escaped_id_line("INFO", "7"))
        assert result.groups == {("INFO", 7): 2, ("INFO", "7"): 1}
        assert [type(key[1]) for key, _ in sorted_groups(result)] == [int, str]


class TestTimeKeys:
    def test_minute_hour_day_in_utc(self):
        """Time keys are the UTC minute, hour and day, offsets applied."""
        data = (line("2026-11-28T16:03:05.123456Z") + line("2026-11-28T17:03:59.5+01:00")
                + line("2026-11-29T00:30:00+01:00") + line("2026-11-28t23:30:00z")
                + line("2026-11-28 22:30:00-01:00"))
        assert count(data, by=("minute",)).groups == {("2026-11-28T16:03Z",): 2, ("2026-11-28T23:30Z",): 3}
        assert count(data, by=("hour",)).groups == {("2026-11-28T16Z",): 2, ("2026-11-28T23Z",): 3}
        assert count(data, by=("day", "level")).groups == {("2026-11-28", "INFO"): 5}

    @pytest.mark.parametrize("timestamp", [
        None, 1764345785, "yesterday", "2026-11-28", "2026-11-28T16:03Z", "2026-11-28T16:03:05",
        "2026-02-30T00:00:00Z", "2026-11-28T23:59:60Z", "2026-11-28T24:00:00Z",
        "2026-11-28T16:03:05+1:00", "2026-11-28T16:03:05+05:75", "2026-11-28T16:03:05+24:00",
        "2026-11-28T16:03:05-00:60", "2026-11-28T16:03:05+23:60", "2026-11-28T16:60:05Z",
        "0001-01-01T00:30:00+01:00", "2026-11-28T16:03:05.Z", "\uff12026-11-28T16:03:05Z",
        "2026-11-28T16:03:05.\u0661Z",
    ])
    def test_bad_timestamp_with_a_time_key(self, timestamp):
        """A missing, non-string or non-RFC 3339 timestamp is bad when a time key is asked, else unread."""
        data = line("2026-11-28T16:03:05Z") + line(timestamp)
        with_key = count(data, by=("minute",))
        assert (with_key.total, with_key.bad_lines) == (1, 1)
        without = count(data)
        assert (without.total, without.bad_lines) == (2, 0)

    def test_widest_offsets(self):
        """Offsets up to 23:59 either way are good (RFC 3339's HH 00-23, MM 00-59)."""
        data = line("2026-11-28T23:59:00+23:59") + line("2026-11-28T00:00:00-23:59")
        assert count(data, by=("minute",)).groups == {("2026-11-28T00:00Z",): 1, ("2026-11-28T23:59Z",): 1}

    def test_years_before_1000_have_four_digits(self):
        """Keys always write the year in 4 digits (glibc's strftime %Y does not)."""
        data = line("0001-01-01T00:30:00-01:00") + line("0999-12-31T23:59:59Z")
        assert count(data, by=("minute",)).groups == {("0001-01-01T01:30Z",): 1, ("0999-12-31T23:59Z",): 1}
        assert count(data, by=("hour",)).groups == {("0001-01-01T01Z",): 1, ("0999-12-31T23Z",): 1}
        assert count(data, by=("day",)).groups == {("0001-01-01",): 1, ("0999-12-31",): 1}

    def test_missing_timestamp_with_a_time_key(self):
        """A line without a timestamp is bad when a time key is asked."""
        result = count(INFO_A + line("2026-11-28T16:03:05Z"), by=("day",))
        assert (result.total, result.bad_lines, result.groups) == (1, 1, {("2026-11-28",): 1})


class TestWindow:
    DATA = (line("2026-11-28T15:59:59.999999Z") + line("2026-11-28T16:00:00Z")
            + line("2026-11-28T16:59:59.9999999Z") + line("2026-11-28T17:00:00Z")
            + line("2026-11-28T17:30:00+01:00"))

    def test_since_inclusive_until_exclusive(self):
        """since is inclusive, until exclusive."""
        result = count(self.DATA, since="2026-11-28T16:00", until="2026-11-28T17:00")
        assert (result.total, result.bad_lines) == (3, 0)  # 16:00:00, 16:59:59.9999999, 16:30 (17:30+01:00)

    def test_forms_of_since(self):
        """RFC 3339 with an offset, a date, a date with seconds, an aware datetime: the same instant."""
        for since in ("2026-11-28T17:00:00+01:00", "2026-11-28T16:00:00Z", "2026-11-28T16:00:00",
                      datetime(2026, 11, 28, 16, tzinfo=timezone.utc)):
            assert count(self.DATA, since=since).total == 4, since
        assert count(self.DATA, since="2026-11-28").total == 5
        assert count(self.DATA, until="2026-11-28T16:00:00.000000100Z").total == 2

    def test_exact_beyond_microseconds(self):
        """Fractions are compared exactly, not cut to microseconds."""
        data = line("2026-11-28T16:00:00.0000001Z")
        assert count(data, since="2026-11-28T16:00:00.0000002Z").total == 0
        assert count(data, until="2026-11-28T16:00:00.0000002Z").total == 1
        assert count(data, until="2026-11-28T16:00:00.0000001Z").total == 0

    def test_window_makes_a_bad_timestamp_bad_before_other_filters(self):
        """With a window, a bad timestamp is a bad line even on a line the level filter drops."""
        data = line("2026-11-28T16:00:00Z") + line("soon", level="DEBUG")
        result = count(data, since="2026-11-28", levels=["INFO"])
        assert (result.total, result.bad_lines) == (1, 1)

    @pytest.mark.parametrize("since", ["28/11/2026", "2026-11-28T16", "2026-11-28T16:00:00.5", "",
                                       "2026-13-01", "\u0662026-11-28", "2026-11-28T16:00:00+05:75"])
    def test_bad_window(self, since):
        """A since that is neither form is a ValueError naming since."""
        with pytest.raises(ValueError, match="^since="):
            count(INFO_A, since=since)

    def test_empty_window(self):
        """since not before until is a ValueError."""
        with pytest.raises(ValueError, match="not before until"):
            count(INFO_A, since="2026-11-28", until="2026-11-28T00:00:00+00:00")

    def test_naive_datetime(self):
        """A naive datetime is a ValueError naming the parameter."""
        with pytest.raises(ValueError, match="^until: a naive datetime"):
            count(INFO_A, until=datetime(2026, 11, 28))


class TestFieldKeys:
    def test_field_values(self):
        """A field's string or int is itself; null and missing are None; the rest is compact JSON text."""
        values = [b'"web1"', b"3", b"null", b"true", b"1", b"1.0", b"1.50", b"1e400", b'[1, 2]',
                  b'{"a": "\\u00e9", "a": 2}', b'"\\u0061"', b'"a"']
        data = b"".join(b'{"level":"INFO","event_id":"a","host":' + value + b"}\n" for value in values)
        data += INFO_A
        result = count(data, by=("field:host",))
        assert result.groups == {("web1",): 1, (3,): 1, (None,): 2, ("true",): 1, (1,): 1, ("1.0",): 1,
                                 ("1.5",): 1, ("Infinity",): 1, ("[1,2]",): 1, ('{"a":2}',): 1, ("a",): 2}

    def test_non_ascii_text(self):
        """Non-ASCII in a field's JSON text stays as it is."""
        result = count(b'{"level":"INFO","event_id":"a","host":["\\u00e9\\ud800"]}\n', by=("field:host",))
        assert result.groups == {('["\u00e9\ufffd"]',): 1}

    def test_a_field_named_like_a_key(self):
        """field:level is the level field's value as written."""
        result = count(INFO_A, by=("field:level", "level"))
        assert result.groups == {("INFO", "INFO"): 1}


class TestSource:
    def test_source_is_the_name_given(self):
        """The source key is each source's name as given."""
        result = count_reference([("host1/a.log", INFO_A * 2), ("-", INFO_A + ERROR_B)],
                                 by=("source", "level"))
        assert result.groups == {("host1/a.log", "INFO"): 2, ("-", "INFO"): 1, ("-", "ERROR"): 1}
        assert (result.files, result.total) == (2, 4)


class TestFilters:
    DATA = (b'{"level":"ERROR","event_id":"event_1"}\n{"level":"Error","event_id":"Event_1"}\n'
            b'{"level":"WARNING","event_id":7}\n{"level":"CRITICAL","event_id":70}\n'
            b'{"level":"INFO","event_id":"7x"}\n{"level":"info","event_id":"bb"}\nnot json\n')

    def test_levels_ignore_ascii_case(self):
        """Level names match in any ASCII case; the key keeps the line's spelling."""
        result = count(self.DATA, levels=["error"])
        assert result.groups == {("ERROR", "event_1"): 1, ("Error", "Event_1"): 1}
        assert (result.total, result.bad_lines) == (2, 1)

    def test_level_aliases(self):
        """WARN is WARNING and FATAL is CRITICAL, as log() reads them."""
        result = count(self.DATA, levels=["warn", "Fatal"])
        assert result.groups == {("WARNING", 7): 1, ("CRITICAL", 70): 1}
        lines = b'{"level":"warn","event_id":1}\n{"level":"FATAL","event_id":1}\n'
        assert count(lines, levels=["WARNING"]).groups == {("warn", 1): 1}
        assert count(lines, levels=["critical"]).groups == {("FATAL", 1): 1}

    def test_non_ascii_case_is_not_folded(self):
        """Only ASCII letters are folded."""
        data = b'{"level":"\xc3\xa9","event_id":1}\n{"level":"\xc3\x89","event_id":1}\n'
        assert count(data, levels=["\u00e9"]).groups == {("\u00e9", 1): 1}

    @pytest.mark.parametrize("glob, expected", [
        ("event_*", {("ERROR", "event_1"): 1}),
        ("7*", {("WARNING", 7): 1, ("CRITICAL", 70): 1, ("INFO", "7x"): 1}),
        ("?", {("WARNING", 7): 1}),
        ("[!b7]*", {("ERROR", "event_1"): 1, ("Error", "Event_1"): 1}),
        ("[a-c]b", {("info", "bb"): 1}),
    ])
    def test_event_id_glob(self, glob, expected):
        """The glob matches the id's text, case-sensitively; an int's text is its decimal."""
        result = count(self.DATA, event_id_glob=glob)
        assert (result.groups, result.bad_lines) == (expected, 1)

    def test_total_is_after_filters(self):
        """total sums the groups left by the filters."""
        result = count(self.DATA, levels=["INFO", "error"], event_id_glob="*x")
        assert (result.total, result.groups) == (1, {("INFO", "7x"): 1})


class TestOrderAndJson:
    def test_count_then_key_values(self):
        """Groups go by count descending, then None, ints by value, strings by code point."""
        result = Result(groups={("a", "b"): 1, ("a", 10): 1, ("a", -1): 1, ("a", None): 1, ("B", "z"): 1,
                                ("\u00e9", 1): 1, ("a", 2): 2, ("a", "\U0001F600"): 1, ("a", "\uffff"): 1})
        assert [key for key, _ in sorted_groups(result)] == [
            ("a", 2), ("B", "z"), ("a", None), ("a", -1), ("a", 10), ("a", "b"), ("a", "\uffff"),
            ("a", "\U0001F600"), ("\u00e9", 1)]

    def test_as_json(self):
        """The --format json object, byte for byte, an int id an int (bytes: 32 + 66 + 5 + 32 + 30)."""
        result = count(INFO_A + escaped_id_line("ERROR", "7") + b"junk\n" + INFO_A
                       + b'{"level":"\xc3\xa9","event_id":"a"}\n')
        assert as_json(result, ("level", "event_id")) == (
            '{"total": 4, "groups": [{"level": "INFO", "event_id": "a", "count": 2}, '
            '{"level": "ERROR", "event_id": 7, "count": 1}, '
            '{"level": "\u00e9", "event_id": "a", "count": 1}], '
            '"files": 1, "bytes": 165, "bad_lines": 1}')

    def test_top_keeps_the_total(self):
        """top keeps the largest groups; total stays the whole count."""
        result = count(INFO_A * 3 + ERROR_B)
        assert json.loads(as_json(result, ("level", "event_id"), top=1)) == {
            "total": 4, "groups": [{"level": "INFO", "event_id": "a", "count": 3}],
            "files": 1, "bytes": 129, "bad_lines": 0}

    def test_field_key_name(self):
        """A field key is named field:NAME in the groups."""
        result = count(b'{"level":"INFO","event_id":"a","count":5}\n', by="field:count,level")
        assert json.loads(as_json(result, "field:count,level"))["groups"] == [
            {"field:count": 5, "level": "INFO", "count": 1}]


class TestArguments:
    @pytest.mark.parametrize("by, message", [
        (("level", "color"), "unknown key 'color'"), (("field:",), "unknown key 'field:'"),
        ((), "at least one key"), (("level", "level"), "given twice"), ("level,", "unknown key ''"),
    ])
    def test_bad_by(self, by, message):
        """A bad by is a ValueError naming by and the key."""
        with pytest.raises(ValueError, match=f"^by: .*{message}"):
            count(INFO_A, by=by)

    def test_no_levels(self):
        """An empty level list is an error, not a count of nothing."""
        with pytest.raises(ValueError, match="^levels: "):
            count(INFO_A, levels=[])


class TestCorpus:
    def test_real_hostile_output(self, tmp_path):
        """Every hostile event a real logger writes counts once, none bad; lone surrogates as U+FFFD."""
        events = hostile_events()
        result = count_reference(fastevlog_sources(tmp_path, events), by=("event_id",))
        assert (result.total, result.bad_lines) == (len(events), 0)
        assert result.groups[("lone \ufffd high, lone \ufffd low",)] == 1
        assert result.groups[(2 ** 63,)] == 1
        assert result.groups[("x" * (1 << 20),)] == 1

    def test_simulate_output(self, tmp_path):
        """simulate's event i is event_{i % 1000}, INFO for even i: 2,000 events are 1,000 groups of 2."""
        result = count_reference(simulate_sources(tmp_path, 2000), by=("level", "event_id"))
        assert (result.total, result.bad_lines, len(result.groups)) == (2000, 0, 1000)
        assert result.files > 1
        assert result.groups[("INFO", "event_0")] == result.groups[("ERROR", "event_999")] == 2
        assert ("ERROR", "event_0") not in result.groups

    def test_fastevlog_shaped_line(self):
        """The reference reads the logger's shape: timestamp first, int ids as numbers."""
        result = count(fastevlog_shaped_line("ERROR", 7, "m\n", {"n": 1}), by=("minute", "event_id"))
        assert result.groups == {("2026-11-28T16:03Z", 7): 1}

    def test_other_writer_escaped_ids(self):
        """Another writer's escaped "ab" ids count with its plain ones."""
        result = count_reference(other_writer_sources(random.Random(0), count=0))
        assert result.groups == {("INFO", "ab"): 3, ("INFO", "\ufffd"): 1, ("INFO", "\U0001F600"): 1,
                                 ("ERROR", 7): 1, ("ERROR", 0): 1}
        assert result.bad_lines == 1  # 7.0

    @settings(max_examples=60, deadline=None)
    @given(st.lists(sources(), max_size=3))
    def test_sources_add_up(self, generated):
        """Counting sources together is the sum of counting each; CRLF changes nothing but bytes."""
        together = count_reference(generated, by=("source", "level", "event_id"))
        alone = [count_reference([source], by=("source", "level", "event_id")) for source in generated]
        assert together.total == sum(part.total for part in alone)
        assert together.bad_lines == sum(part.bad_lines for part in alone)
        summed: dict = {}
        for part in alone:
            for key, number in part.groups.items():
                summed[key] = summed.get(key, 0) + number
        assert together.groups == summed
        in_crlf = count_reference([(name, crlf(data)) for name, data in generated],
                                  by=("source", "level", "event_id"))
        assert (in_crlf.groups, in_crlf.bad_lines) == (together.groups, together.bad_lines)

    @settings(max_examples=50, deadline=None)
    @given(st.lists(st.tuples(st.sampled_from(LEVELS), st.one_of(st.text(max_size=4), st.integers(-3, 3)),
                              st.one_of(st.none(), st.text(max_size=4))), max_size=20))
    def test_logged_events_count_as_logged(self, events):
        """The logger's lines of (level, id, message) events count as a Counter of (level, id) says."""
        data = b"".join(fastevlog_shaped_line(*event) for event in events)
        result = count(data)
        assert result.groups == Counter((level, event_id) for level, event_id, _ in events)
        assert (result.total, result.bad_lines) == (len(events), 0)

    def test_damaged_copies(self):
        """Ten lines: torn 9 + 1 bad, CRLF 10, gap at 0 nothing, gap at byte 160 (a line start) 5."""
        damaged = dict(damaged_sources([("c", INFO_A * 10)], random.Random(0)))
        expected = {"empty.log": (0, 0, 0), "newlines.log": (0, 0, 5), "c.torn": (9, 1, None),
                    "c.crlf": (10, 0, 330), "c.gap0": (0, 0, 0), "c.gap": (5, 0, 160)}
        for name, (total, bad_lines, size) in expected.items():
            result = count_reference([(name, damaged[name])])
            assert (result.total, result.bad_lines) == (total, bad_lines), name
            assert size is None or result.bytes == size, name

    def test_nul_gap_helper(self):
        """nul_gap overwrites, never shifts, the bytes after it."""
        assert nul_gap(b"abcdef", 1, 2) == b"a\0\0def"
