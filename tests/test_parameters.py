"""EventLogCounter's parameters: bad ones refused up front, naming the parameter, with nothing created."""

import errno
import inspect
import math
import os
import signal
import textwrap
import threading
from pathlib import Path

import pytest
from support import log_paths, mounted_tmpfs, read_events, run_python

import fastevlog
from fastevlog import EventLogCounter, _core


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
    ({"clock": None}, TypeError, "clock"),
    # sizes and counts: ints (numpy's too, not bool) within their range.
    ({"buffer_size": "1000"}, TypeError, "buffer_size"),
    ({"buffer_size": 1.5}, TypeError, "buffer_size"),
    ({"buffer_size": None}, TypeError, "buffer_size"),
    ({"buffer_size": True}, TypeError, "buffer_size"),
    ({"buffer_size": 0}, ValueError, "buffer_size"),
    ({"buffer_size": -1}, ValueError, "buffer_size"),
    ({"buffer_size": 2**64}, ValueError, "buffer_size"),  # the core counts events in a uint64
    ({"buffer_bytes": "32M"}, TypeError, "buffer_bytes"),
    ({"buffer_bytes": 1e6}, TypeError, "buffer_bytes"),
    ({"buffer_bytes": 64 * 1024 - 1}, ValueError, "buffer_bytes"),
    ({"buffer_bytes": 2**30 + 1}, ValueError, "buffer_bytes"),  # more than the ring's 1024 segments hold
    ({"max_file_size": "10MB"}, TypeError, "max_file_size"),
    ({"max_file_size": 1e7}, TypeError, "max_file_size"),
    ({"max_file_size": 0}, ValueError, "max_file_size"),
    ({"num_workers": 2.0}, TypeError, "num_workers"),
    ({"num_workers": True}, TypeError, "num_workers"),
    ({"num_workers": 0}, ValueError, "num_workers"),
    ({"max_retries": "3"}, TypeError, "max_retries"),
    ({"max_retries": None}, TypeError, "max_retries"),
    ({"max_retries": -1}, ValueError, "max_retries"),
    # flush_interval: a positive, finite number of seconds.
    ({"flush_interval": "1"}, TypeError, "flush_interval"),
    ({"flush_interval": None}, TypeError, "flush_interval"),
    ({"flush_interval": True}, TypeError, "flush_interval"),
    ({"flush_interval": 0}, ValueError, "flush_interval"),
    ({"flush_interval": -1.0}, ValueError, "flush_interval"),
    ({"flush_interval": math.nan}, ValueError, "flush_interval"),
    ({"flush_interval": math.inf}, ValueError, "flush_interval"),
    # the choices: exactly the documented strings.
    ({"rotate_every": 3600}, TypeError, "rotate_every"),
    ({"rotate_every": ["daily"]}, TypeError, "rotate_every"),  # unhashable: no bare "unhashable type"
    ({"rotate_every": "weekly"}, ValueError, "rotate_every"),
    ({"rotate_every": ""}, ValueError, "rotate_every"),
    ({"on_full": None}, TypeError, "on_full"),
    ({"on_full": True}, TypeError, "on_full"),
    ({"on_full": "wait"}, ValueError, "on_full"),
    # level: a name or a stdlib int.
    ({"level": None}, TypeError, "level"),
    ({"level": 20.0}, TypeError, "level"),
    ({"level": True}, TypeError, "level"),
    ({"level": b"INFO"}, TypeError, "level"),
    ({"level": "NOPE"}, ValueError, "level"),
    ({"level": 26}, ValueError, "level"),
    ({"level": ""}, ValueError, "level"),
    # install_signal_handlers: a bool (a thread's True: TestSignalHandlers).
    ({"install_signal_handlers": "yes"}, TypeError, "install_signal_handlers"),
    ({"install_signal_handlers": 1}, TypeError, "install_signal_handlers"),
    ({"install_signal_handlers": None}, TypeError, "install_signal_handlers"),
    # compress: None, "gzip" or "zstd"; compress_level within the kind's range, and only with a kind.
    ({"compress": "bz2"}, ValueError, "compress"),
    ({"compress": "GZIP"}, ValueError, "compress"),
    ({"compress": True}, TypeError, "compress"),
    ({"compress": "gzip", "compress_level": 0}, ValueError, "compress_level"),
    ({"compress": "gzip", "compress_level": 10}, ValueError, "compress_level"),
    ({"compress": "zstd", "compress_level": 23}, ValueError, "compress_level"),
    ({"compress_level": 3}, ValueError, "compress_level"),
    ({"compress": "gzip", "compress_level": 6.0}, TypeError, "compress_level"),
    # keep_files, keep_bytes: None or an int >= 0; keep_days: None or a positive, finite number.
    ({"keep_files": -1}, ValueError, "keep_files"),
    ({"keep_files": 2.0}, TypeError, "keep_files"),
    ({"keep_files": True}, TypeError, "keep_files"),
    ({"keep_bytes": -1}, ValueError, "keep_bytes"),
    ({"keep_bytes": "1G"}, TypeError, "keep_bytes"),
    ({"keep_days": 0}, ValueError, "keep_days"),
    ({"keep_days": float("nan")}, ValueError, "keep_days"),
    ({"keep_days": float("inf")}, ValueError, "keep_days"),
    ({"keep_days": "7"}, TypeError, "keep_days"),
    ({"keep_days": True}, TypeError, "keep_days"),
    # ship_to: a NatsShipper (which checks its own values: tests/test_shipper.py), not a URL.
    ({"ship_to": "nats://127.0.0.1:4222"}, TypeError, "ship_to"),
]

# Parameters without a wrong value in the table: calling clock() up front would take a reading from the
# fake clocks tests inject (a bad reading is reported by the scheduler, CRITICAL, when it comes); True for
# install_signal_handlers is wrong only off the main thread (TestSignalHandlers).
_NO_WRONG_VALUE = {"clock", "install_signal_handlers", "ship_to"}


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
                             ids=[",".join(f"{k}={v!r}" for k, v in p.items()) for p, _, _ in _REFUSED])
    def test_refused_naming_the_parameter(self, cwd, parameters, error, name):
        """Each bad value is an error naming its parameter, and nothing is created on disk."""
        parameters = {"directory": cwd / "new" / "logs", **parameters}
        with pytest.raises(error, match=name):
            EventLogCounter(**parameters)
        assert list(cwd.iterdir()) == []

    def test_every_parameter_has_a_wrong_type_and_a_wrong_value(self):
        """The table above covers every parameter, so a new one cannot go unchecked."""
        covered = {(name, error) for parameters, error, name in _REFUSED}
        for name in inspect.signature(EventLogCounter).parameters:
            assert (name, TypeError) in covered, f"no wrong type of {name} in _REFUSED"
            assert (name, ValueError) in covered or name in _NO_WRONG_VALUE, \
                f"no wrong value of {name} in _REFUSED"

    def test_numpy_ints_and_floats_are_accepted(self, tmp_path):
        """Numbers computed with numpy (np.int64, np.float32) are ints and seconds like any other."""
        np = pytest.importorskip("numpy")
        with EventLogCounter(directory=tmp_path, buffer_bytes=np.int64(64 * 1024), num_workers=np.int32(1),
                             flush_interval=np.float32(0.5), max_retries=np.int64(0)) as logger:
            logger.info("e")
        assert len(read_events(tmp_path)) == 1

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


class TestSignalHandlers:
    def test_from_a_thread_refused_up_front(self, cwd):
        """install_signal_handlers=True off the main thread: a ValueError naming it; nothing created or
        installed."""
        before = signal.getsignal(signal.SIGTERM)
        refused = []

        def construct():
            try:
                EventLogCounter(directory=cwd / "logs", install_signal_handlers=True)
            except ValueError as error:
                refused.append(error)

        thread = threading.Thread(target=construct)
        thread.start()
        thread.join()
        assert len(refused) == 1 and "install_signal_handlers" in str(refused[0])
        assert "main thread" in str(refused[0])
        assert list(cwd.iterdir()) == []
        assert signal.getsignal(signal.SIGTERM) is before

    def test_refused_logger_installs_nothing(self, tmp_path):
        """A logger refused after its parameters were checked (here: its directory) leaves SIGTERM alone."""
        code = textwrap.dedent("""
            import signal
            import fastevlog
            before = signal.getsignal(signal.SIGTERM)
            open("afile", "w").close()
            try:
                fastevlog.EventLogCounter(directory="afile", install_signal_handlers=True)
            except NotADirectoryError:
                pass
            print(signal.getsignal(signal.SIGTERM) is before)
        """)
        done = run_python(code, tmp_path, capture_output=True, text=True, timeout=60)
        assert done.stdout == "True\n", done.stderr


class TestDirectoryInTheWay:
    def test_directory_names_a_file(self, tmp_path):
        """directory= naming a file says so, and what to pass instead."""
        (tmp_path / "afile").write_text("x")
        with pytest.raises(NotADirectoryError) as refused:
            EventLogCounter(directory=tmp_path / "afile")
        message = str(refused.value)
        assert f"directory= names a file, not a directory: '{tmp_path / 'afile'}'" in message
        assert "pass the path of a directory" in message
        assert refused.value.errno == errno.ENOTDIR
        assert isinstance(refused.value.__cause__, FileExistsError)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]

    def test_a_file_on_the_way(self, tmp_path):
        """A file standing for one of the directories to create is named."""
        (tmp_path / "afile").write_text("x")
        with pytest.raises(NotADirectoryError) as refused:
            EventLogCounter(directory=tmp_path / "afile" / "logs")
        assert f"'{tmp_path / 'afile'}' is a file, not a directory" in str(refused.value)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]

    def test_a_symlink_to_nothing(self, tmp_path):
        """A dangling symlink in the way is called what it is."""
        (tmp_path / "link").symlink_to(tmp_path / "gone")
        with pytest.raises(NotADirectoryError, match="directory= names a symlink to nothing"):
            EventLogCounter(directory=tmp_path / "link")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["link"]


@pytest.fixture
def small_disk(tmp_path):
    """A 512 KiB tmpfs (the mechanism of tests/test_disk_full.py), unmounted afterwards."""
    with mounted_tmpfs(tmp_path / "disk", "size=512k") as mount_point:
        yield mount_point


class TestNoRoomForTheBuffer:
    def test_error_says_lower_buffer_bytes(self, small_disk):
        """On a disk too small for the buffer file: ENOSPC naming buffer_bytes, the bytes needed and the
        bytes free; no buffer file (nor a part of one) left behind."""
        buffer_bytes = 1024 * 1024
        needed = _core.buffer_file_size(*fastevlog._logger.ring_geometry(buffer_bytes))
        with pytest.raises(OSError) as refused:
            EventLogCounter(directory=small_disk, buffer_bytes=buffer_bytes)
        message = str(refused.value)
        assert refused.value.errno == errno.ENOSPC
        assert isinstance(refused.value.__cause__, OSError)
        assert refused.value.__cause__.errno == errno.ENOSPC
        assert "lower buffer_bytes" in message
        assert message.startswith("[Errno 28] No space left on device: the buffer file in")
        assert f"needs {needed:_} bytes" in message
        stat = os.statvfs(small_disk)
        assert f"{stat.f_bavail * stat.f_frsize:_} bytes are free" in message
        assert list(small_disk.iterdir()) == []

    def test_configure_keeps_the_old_logger(self, small_disk):
        """configure() asking for more than the disk holds leaves the default logger logging, losing
        nothing, with only its own buffer file."""
        old = fastevlog.configure(directory=small_disk, buffer_bytes=64 * 1024, log_file="default")
        try:
            fastevlog.log("INFO", "e", seq=0)
            with pytest.raises(OSError, match="lower buffer_bytes"):
                fastevlog.configure(directory=small_disk, buffer_bytes=1024 * 1024, log_file="default")
            assert fastevlog.get_logger() is old
            fastevlog.log("INFO", "e", seq=1)
            assert [p.name for p in small_disk.glob("*.buffer")] == [os.path.basename(old.buffer_path)]
        finally:
            fastevlog.stop()
        assert [e["seq"] for e in read_events(small_disk, "default")] == [0, 1]
        assert not list(small_disk.glob("*.buffer"))


class TestConfigure:
    @pytest.mark.parametrize("bad", [
        {"level": "NOPE"}, {"on_full": "wait"}, {"file_mode": "0644"}, {"clock": None},
        {"directory": "afile"}, {"directory": "afile/logs"},
    ], ids=lambda bad: ",".join(f"{k}={v!r}" for k, v in bad.items()))
    def test_refused_keeps_the_old_default_logger(self, cwd, bad):
        """A refused configure() leaves the default logger running, writing to the same file."""
        (cwd / "afile").write_text("x")
        old = fastevlog.configure(directory=cwd / "old", log_file="default")
        try:
            fastevlog.log("INFO", "e", seq=0)
            fastevlog.flush()
            files = log_paths(cwd / "old", "default")
            with pytest.raises((TypeError, ValueError, OSError)):
                fastevlog.configure(**{"directory": cwd / "new", "log_file": "default", **bad})
            assert fastevlog.get_logger() is old and not old.closed
            fastevlog.log("INFO", "e", seq=1)
            fastevlog.flush()
            assert log_paths(cwd / "old", "default") == files
        finally:
            fastevlog.stop()
        assert [e["seq"] for e in read_events(cwd / "old", "default")] == [0, 1]
        assert sorted(p.name for p in cwd.iterdir()) == ["afile", "old"]

    def test_same_directory_and_log_file(self, tmp_path):
        """Reconfiguring onto the old logger's directory and log_file: every event once, in order, and
        no buffer file left (the new one's recovery leaves the old's live buffer alone)."""
        old = fastevlog.configure(directory=tmp_path, log_file="default", flush_interval=3600)
        try:
            for seq in range(1000):
                fastevlog.log("INFO", "e", seq=seq)
            new = fastevlog.configure(directory=tmp_path, log_file="default")
            assert old.closed and fastevlog.get_logger() is new
            assert new.recovered_events == 0
            for seq in range(1000, 2000):
                fastevlog.log("INFO", "e", seq=seq)
        finally:
            fastevlog.stop()
        assert [e["seq"] for e in read_events(tmp_path, "default")] == list(range(2000))
        assert not list(tmp_path.glob("*.buffer"))

    def test_signature_is_the_loggers(self):
        """configure() takes EventLogCounter's parameters, by keyword, with the same defaults and types."""
        logger = inspect.signature(EventLogCounter).parameters
        configure = inspect.signature(fastevlog.configure).parameters
        assert list(configure) == list(logger)
        for name, parameter in configure.items():
            assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, name
            assert parameter.default == logger[name].default, name
            assert parameter.annotation == logger[name].annotation, name
