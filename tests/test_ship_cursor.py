"""The shipping cursor: saved whole, one shipper per (directory, stream), what it holds from housekeeping."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
from support import child_env

from fastevlog._closed_files import claim_closed, list_log_files
from fastevlog._directory import LogDirectory
from fastevlog._housekeeper import housekeep
from fastevlog._ship_cursor import ShipCursor, cursor_name, unshipped

NAME = "app_20261204_101010.log"
OTHER = "app_20261204_101011.log"


@pytest.fixture
def directory(tmp_path):
    opened = LogDirectory(str(tmp_path), 0o640)
    yield opened
    opened.close()


def _write(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)


class TestSaved:
    def test_saved_offsets_are_loaded(self, directory, tmp_path):
        """What save() wrote, load() reads, by a new cursor too."""
        ShipCursor(directory, "S").save({NAME: 10, OTHER: 0})
        assert ShipCursor(directory, "S").load() == {NAME: 10, OTHER: 0}
        assert json.loads((tmp_path / cursor_name("S")).read_text())["files"] == {NAME: 10, OTHER: 0}

    def test_no_cursor_is_empty(self, directory):
        assert ShipCursor(directory, "S").load() == {}

    def test_streams_have_cursors_of_their_own(self, directory):
        ShipCursor(directory, "A").save({NAME: 1})
        assert ShipCursor(directory, "B").load() == {}

    def test_a_leftover_temporary_is_not_read(self, directory, tmp_path):
        """A save cut short leaves the old cursor whole: the temporary is never the cursor."""
        ShipCursor(directory, "S").save({NAME: 5})
        _write(tmp_path, cursor_name("S") + ".tmp", b'{"version": 1, "fi')
        assert ShipCursor(directory, "S").load() == {NAME: 5}

    @pytest.mark.parametrize("junk", [b"", b"not json", b'{"version": 2, "files": {}}',
                                      b'{"version": 1, "files": {"a.log": -1}}',
                                      b'{"version": 1, "files": {"a.log": "7"}}', b"[]"])
    def test_a_cursor_we_did_not_write_starts_over(self, directory, tmp_path, junk, caplog):
        """Junk under the cursor's name ships everything again (same ids: nothing is lost) and says so."""
        _write(tmp_path, cursor_name("S"), junk)
        with caplog.at_level(logging.WARNING, logger="fastevlog"):
            assert ShipCursor(directory, "S").load() == {}
        assert "not a shipping cursor" in caplog.text

    def test_a_symlink_is_not_followed(self, directory, tmp_path):
        """A planted symlink at the cursor's name is not read, and saving replaces it, not its target."""
        target = tmp_path / "target"
        target.write_text(json.dumps({"version": 1, "files": {NAME: 99}}))
        os.symlink(target, tmp_path / cursor_name("S"))
        cursor = ShipCursor(directory, "S")
        assert cursor.load() == {}
        cursor.save({NAME: 3})
        assert not (tmp_path / cursor_name("S")).is_symlink()
        assert json.loads(target.read_text())["files"] == {NAME: 99}


# Another process that becomes the shipper of a directory and waits to be killed.
_HOLDER = """
import sys, time
from fastevlog._directory import LogDirectory
from fastevlog._ship_cursor import ShipCursor
assert ShipCursor(LogDirectory(sys.argv[1], 0o640), "S").take()
print("ready", flush=True)
time.sleep(60)
"""


class TestOneShipper:
    def test_a_second_shipper_stands_by(self, directory):
        first, second = ShipCursor(directory, "S"), ShipCursor(directory, "S")
        assert first.take()
        assert first.take()  # again: still ours
        assert not second.take()
        first.let_go()
        assert second.take()
        second.let_go()

    def test_another_stream_is_shipped_apart(self, directory):
        first, other = ShipCursor(directory, "A"), ShipCursor(directory, "B")
        assert first.take() and other.take()
        first.let_go()
        other.let_go()

    def test_a_killed_shipper_lets_go(self, tmp_path, directory):
        """Another process holds the directory; once it is killed, we become the shipper."""
        holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)], stdout=subprocess.PIPE,
                                  text=True, cwd=tmp_path, env=child_env())
        try:
            assert holder.stdout.readline() == "ready\n"
            cursor = ShipCursor(directory, "S")
            assert not cursor.take()
            holder.kill()
            holder.wait(30)
            assert cursor.take()
            cursor.let_go()
        finally:
            holder.kill()
            holder.wait(30)


class TestUnshipped:
    def test_nothing_is_held_without_a_cursor(self, directory):
        assert unshipped(directory, {NAME: 100}) == set()

    def test_files_not_acked_to_their_end_are_held(self, directory):
        ShipCursor(directory, "S").save({NAME: 100, OTHER: 40})
        assert unshipped(directory, {NAME: 100, OTHER: 41, "app_20261204_101012.log": 1}) == {
            OTHER, "app_20261204_101012.log"}

    def test_every_cursor_must_have_acked(self, directory):
        """Two streams ship the directory: a file waits for both."""
        ShipCursor(directory, "A").save({NAME: 100})
        ShipCursor(directory, "B").save({NAME: 50})
        assert unshipped(directory, {NAME: 100}) == {NAME}
        ShipCursor(directory, "B").save({NAME: 100})
        assert unshipped(directory, {NAME: 100}) == set()

    def test_an_unreadable_cursor_holds_everything(self, directory, tmp_path):
        _write(tmp_path, cursor_name("S"), b"junk")
        assert unshipped(directory, {NAME: 1, OTHER: 2}) == {NAME, OTHER}


class TestHousekeepingWaits:
    def test_an_unacked_file_is_not_claimed(self, directory, tmp_path):
        """Compression and retention claim a closed file only once a shipper acked all its bytes."""
        _write(tmp_path, NAME, b'{"a":1}\n' * 10)
        ShipCursor(directory, "S").save({NAME: 79})
        files = list_log_files(directory, "app")
        assert claim_closed(directory, "app", files) == []
        ShipCursor(directory, "S").save({NAME: 80})
        claims = claim_closed(directory, "app", files)
        assert [held.name for held in claims] == [NAME]
        for held in claims:
            held.close()

    def test_retention_keeps_what_is_not_shipped(self, tmp_path, directory):
        """keep_files=0 deletes a shipped closed file, never one whose bytes are not all acked."""
        _write(tmp_path, NAME, b'{"a":1}\n' * 10)
        _write(tmp_path, OTHER, b'{"a":2}\n' * 10)
        ShipCursor(directory, "S").save({NAME: 80, OTHER: 8})
        report = housekeep(str(tmp_path), "app", keep_files=0)
        assert report.files_deleted == 1
        assert not (tmp_path / NAME).exists() and (tmp_path / OTHER).exists()
