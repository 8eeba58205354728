"""The log directory: created with file_mode's permissions (x where r is), whatever the umask."""

import os
import stat

import pytest
from support import read_events

from fastevlog import EventLogCounter
from fastevlog._directory import directory_mode


@pytest.fixture
def umask_0():
    """No umask: modes the logger asks for are the modes files get."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class TestDirectoryMode:
    @pytest.mark.parametrize("file_mode, expected", [
        (0o600, 0o700), (0o640, 0o750), (0o644, 0o755), (0o660, 0o770), (0o620, 0o720), (0o777, 0o777)])
    def test_directory_mode(self, file_mode, expected):
        assert directory_mode(file_mode) == expected

    @pytest.mark.parametrize("file_mode", [0o600, 0o640, 0o644], ids=oct)
    def test_missing_parents_get_the_mode_under_umask_0(self, tmp_path, umask_0, file_mode):
        """The log directory and every missing parent get directory_mode(file_mode)."""
        logs = tmp_path / "a" / "b" / "logs"
        with EventLogCounter(directory=logs, file_mode=file_mode) as logger:
            logger.info("e")
            assert _mode(logger.buffer_path) == file_mode
        for directory in (tmp_path / "a", tmp_path / "a" / "b", logs):
            assert _mode(directory) == directory_mode(file_mode), directory
        assert [_mode(path) for path in logs.iterdir()] == [file_mode]
        assert len(read_events(logs)) == 1

    def test_umask_still_applies(self, tmp_path):
        old = os.umask(0o077)
        try:
            with EventLogCounter(directory=tmp_path / "a" / "logs", file_mode=0o644) as logger:
                logger.info("e")
        finally:
            os.umask(old)
        assert _mode(tmp_path / "a") == _mode(tmp_path / "a" / "logs") == 0o700

    def test_existing_directory_left_as_it_is(self, tmp_path, umask_0):
        """A directory that exists keeps its mode, even one wider than file_mode's."""
        logs = tmp_path / "logs"
        logs.mkdir(0o777)
        with EventLogCounter(directory=logs, file_mode=0o600) as logger:
            logger.info("e")
        assert _mode(logs) == 0o777


class TestRefusedStart:
    def test_refused_start_keeps_no_descriptor(self, tmp_path, monkeypatch):
        """A start that fails after the directory was opened (no room for the buffer file) closes it again."""
        import fastevlog._logger

        def no_room(*args, **kwargs):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(fastevlog._logger, "BufferFile", no_room)
        before = set(os.listdir("/proc/self/fd"))
        for _ in range(3):
            with pytest.raises(OSError, match="No space"):
                EventLogCounter(directory=tmp_path)
        assert set(os.listdir("/proc/self/fd")) == before
