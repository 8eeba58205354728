"""Retention's policy: which closed files go, oldest first, under keep_files, keep_bytes and keep_days."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastevlog._retention import SECONDS_PER_DAY, ClosedFile, Retention, expired

NOW = 1_800_000_000.0


def files(*sizes_and_ages):
    """Closed files oldest first, from (size, age in days)."""
    return [ClosedFile(f"f{n}", size, NOW - days * SECONDS_PER_DAY)
            for n, (size, days) in enumerate(sizes_and_ages)]


def going(found, retention, by_bytes=True):
    return [file.name for file in expired(found, retention, NOW, by_bytes)]


def test_no_limit_keeps_everything():
    assert going(files((10, 100), (10, 1)), Retention()) == []
    assert not Retention().limits() and Retention(keep_days=1).limits()


@pytest.mark.parametrize("keep, gone",
                         [(0, ["f0", "f1", "f2"]), (1, ["f0", "f1"]), (2, ["f0"]), (3, []), (9, [])])
def test_keep_files_keeps_the_newest(keep, gone):
    assert going(files((1, 3), (1, 2), (1, 1)), Retention(keep_files=keep)) == gone


def test_keep_bytes_keeps_the_newest_that_fit_and_never_an_older_one_after_a_gap():
    # Newest first: 50 fits, 200 does not; the older 30 would fit alone, but older files go first.
    assert going(files((30, 3), (200, 2), (50, 1)), Retention(keep_bytes=100)) == ["f0", "f1"]
    assert going(files((30, 3), (20, 2), (50, 1)), Retention(keep_bytes=100)) == []
    assert going(files((30, 3), (20, 2), (50, 1)), Retention(keep_bytes=99)) == ["f0"]


def test_keep_bytes_waits_for_compression_when_asked():
    assert going(files((500, 2), (500, 1)), Retention(keep_bytes=600), by_bytes=False) == []


def test_keep_days_by_last_write():
    assert going(files((1, 10), (1, 7.5), (1, 6.9)), Retention(keep_days=7)) == ["f0", "f1"]


def test_an_expired_file_takes_no_room_from_the_others():
    # f1 is old (an mtime out of order): it goes for its age, and f0 still counts as the second newest.
    found = [ClosedFile("f0", 1, NOW - 1 * SECONDS_PER_DAY), ClosedFile("f1", 1, NOW - 30 * SECONDS_PER_DAY),
             ClosedFile("f2", 1, NOW)]
    assert going(found, Retention(keep_files=2, keep_days=7)) == ["f1"]


def test_limits_combine():
    found = files((10, 5), (10, 4), (10, 3), (10, 2), (10, 1))
    assert going(found, Retention(keep_files=4, keep_bytes=25, keep_days=4.5)) == ["f0", "f1", "f2"]


@given(st.lists(st.tuples(st.integers(0, 1000), st.floats(0, 30)), max_size=30),
       st.none() | st.integers(0, 10), st.none() | st.integers(0, 3000), st.none() | st.floats(0.5, 20))
def test_what_is_kept_is_within_every_limit_and_as_much_as_they_allow(found, keep_files, keep_bytes,
                                                                      keep_days):
    found = files(*found)
    gone = {file.name for file in expired(found, Retention(keep_files, keep_bytes, keep_days), NOW)}
    kept = [file for file in found if file.name not in gone]
    young = [file for file in found if keep_days is None or file.mtime >= NOW - keep_days * SECONDS_PER_DAY]
    assert keep_files is None or len(kept) <= keep_files
    assert keep_bytes is None or sum(file.size for file in kept) <= keep_bytes
    assert all(file in young for file in kept)
    # The kept files are the newest young ones: a suffix of them, and the longest within the limits.
    assert kept == young[len(young) - len(kept):]
    if len(kept) < len(young):
        more = young[len(young) - len(kept) - 1:]
        assert ((keep_files is not None and len(more) > keep_files)
                or (keep_bytes is not None and sum(file.size for file in more) > keep_bytes))
