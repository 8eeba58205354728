"""EventLogCounter's parameters: bad ones refused up front, naming the parameter, with nothing created."""

import os
from pathlib import Path

import pytest
from support import log_paths, read_events

from fastevlog import EventLogCounter


class _BytesPath:
    """An os.PathLike whose path is bytes (the logger's paths are str)."""

    def __fspath__(self):
        return b"logs"


os.PathLike.register(_BytesPath)


_REFUSED = [
    # file_mode: permission bits only, and the owner can read and write.
    ({"file_mode": -1}, ValueError, "file_mode"),
    ({"file_mode": 0o7777}, ValueError, "file_mode"),
    ({"file_mode": 0o4640}, ValueError, "file_mode"),   # setuid
    ({"file_mode": 0o2640}, ValueError, "file_mode"),   # setgid
    ({"file_mode": 0o1640}, ValueError, "file_mode"),   # sticky
    ({"file_mode": 0o1000}, ValueError, "file_mode"),
    ({"file_mode": 0o400}, ValueError, "file_mode"),    # recovery could not reopen the files
    ({"file_mode": 0o244}, ValueError, "file_mode"),
    ({"file_mode": 0}, ValueError, "file_mode"),
    ({"file_mode": 1.5}, TypeError, "file_mode"),
    ({"file_mode": "0640"}, TypeError, "file_mode"),
    ({"file_mode": True}, TypeError, "file_mode"),
    ({"file_mode": None}, TypeError, "file_mode"),
    # log_file: one printable name, short enough for every suffix.
    ({"log_file": "a\nb"}, ValueError, "log_file"),
    ({"log_file": "a\rb"}, ValueError, "log_file"),
    ({"log_file": "a\tb"}, ValueError, "log_file"),
    ({"log_file": "a\0b"}, ValueError, "log_file"),
    ({"log_file": "a\x1bb"}, ValueError, "log_file"),
    ({"log_file": "a\x7fb"}, ValueError, "log_file"),
    ({"log_file": "a\x85b"}, ValueError, "log_file"),
    ({"log_file": "a\u2028b"}, ValueError, "log_file"),
    ({"log_file": "a\u200bb"}, ValueError, "log_file"),  # zero-width space: invisible in a listing
    ({"log_file": "a\ud800b"}, ValueError, "log_file"),  # a lone surrogate has no UTF-8
    ({"log_file": "a/b"}, ValueError, "log_file"),
    ({"log_file": "/"}, ValueError, "log_file"),
    ({"log_file": "."}, ValueError, "log_file"),
    ({"log_file": ".."}, ValueError, "log_file"),
    ({"log_file": ""}, ValueError, "log_file"),
    ({"log_file": "x" * 227}, ValueError, "log_file"),
    ({"log_file": "é" * 114}, ValueError, "log_file"),   # 228 bytes in UTF-8
    ({"log_file": b"events"}, TypeError, "log_file"),
    ({"log_file": None}, TypeError, "log_file"),
    ({"log_file": Path("events")}, TypeError, "log_file"),
    # directory: a str path or an os.PathLike of one.
    ({"directory": b"logs"}, TypeError, "directory"),
    ({"directory": _BytesPath()}, TypeError, "directory"),
    ({"directory": 3}, TypeError, "directory"),
    ({"directory": None}, TypeError, "directory"),
    ({"directory": ""}, ValueError, "directory"),
    ({"directory": "lo\0gs"}, ValueError, "directory"),
    # clock: called by the scheduler thread, so a bad one is refused before it starts.
    ({"clock": 1700000000.0}, TypeError, "clock"),
]


@pytest.fixture
def cwd(tmp_path):
    """tmp_path as the working directory, so a relative directory= would land in it."""
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


class TestRefused:
    @pytest.mark.parametrize("parameters, error, name", _REFUSED,
                             ids=[f"{k}={v!r}" for (k, v), in (p.items() for p, _, _ in _REFUSED)])
    def test_refused_naming_the_parameter(self, cwd, parameters, error, name):
        """Each bad value is an error naming its parameter, and nothing is created on disk."""
        parameters = {"directory": cwd / "new" / "logs", **parameters}
        with pytest.raises(error, match=name):
            EventLogCounter(**parameters)
        assert list(cwd.iterdir()) == []

    def test_file_mode_error_says_what_to_change(self, tmp_path):
        """The mode is shown in octal beside a mode that would do."""
        with pytest.raises(ValueError) as refused:
            EventLogCounter(directory=tmp_path, file_mode=0o7777)
        assert str(refused.value) == ("file_mode must be permission bits within 0o000-0o777 including owner "
                                      "read and write (0o600), e.g. 0o640; got 0o7777")

    def test_long_log_file_error_gives_the_limit(self, tmp_path):
        with pytest.raises(ValueError, match="at most 226 bytes.*got 227 bytes"):
            EventLogCounter(directory=tmp_path, log_file="x" * 227)


class TestAccepted:
    @pytest.mark.parametrize("log_file", ["x" * 226, "é" * 113, "my app (v2) — événements", "-dash.start"])
    def test_names_up_to_the_limit(self, tmp_path, log_file):
        """The longest accepted names still make valid log and buffer file names."""
        with EventLogCounter(directory=tmp_path, log_file=log_file) as logger:
            logger.info("e")
            assert len(os.fsencode(os.path.basename(logger.buffer_path))) <= 255
        assert [e["event_id"] for e in read_events(tmp_path, log_file)] == ["e"]
        (path,) = log_paths(tmp_path, log_file)
        assert len(os.fsencode(path.name)) <= 255

    @pytest.mark.parametrize("file_mode", [0o600, 0o640, 0o644, 0o660, 0o777], ids=oct)
    def test_permission_bits(self, tmp_path, file_mode):
        with EventLogCounter(directory=tmp_path, file_mode=file_mode) as logger:
            logger.info("e")
        assert len(read_events(tmp_path)) == 1

    def test_path_like_directory(self, tmp_path):
        with EventLogCounter(directory=tmp_path / "logs") as logger:
            logger.info("e")
        assert len(read_events(tmp_path / "logs")) == 1
