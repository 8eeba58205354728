"""Shared helpers for the tests: reading back what a logger wrote, running a child Python, a real tmpfs."""

import contextlib
import datetime
import enum
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List

import pytest
from hypothesis import strategies as st

import fastevlog


def log_paths(directory, log_file: str = "async_buffered_logs") -> List[Path]:
    """The log files of ``log_file`` in ``directory``, in name (= time) order."""
    return sorted(Path(directory).glob(f"{log_file}_*.log"))


def lines_of(path: Path) -> List[dict]:
    """Parsed lines of one log file; fails on a torn line, a NUL byte or bad JSON."""
    data = path.read_bytes()
    assert b"\0" not in data, f"{path.name} holds NUL bytes"
    assert data == b"" or data.endswith(b"\n"), f"{path.name} ends in a torn line"
    return [json.loads(line) for line in data.splitlines()]


def read_events(directory, log_file: str = "async_buffered_logs", exclude=()) -> List[dict]:
    """Every line of the log files (but those named in ``exclude``), parsed, in file order."""
    events = []
    for path in log_paths(directory, log_file):
        if path.name not in exclude:
            events.extend(lines_of(path))
    return events


def child_env() -> dict:
    """Environment for a child Python that imports the same fastevlog as this test run.

    Run the child outside the repository too (cwd=): ``python -c`` puts the
    working directory first on sys.path, where the uncompiled source tree would win.
    """
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(fastevlog.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    return env


def run_python(code: str, cwd, **kwargs) -> subprocess.CompletedProcess:
    """Run ``code`` in a child Python that imports the same fastevlog, in ``cwd``."""
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=child_env(), **kwargs)


@contextlib.contextmanager
def mounted_tmpfs(mount_point: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at mount_point with ``options`` (e.g. "size=512k"), unmounted afterwards.

    Skips the test where mounting is refused (not root, no CAP_SYS_ADMIN).
    """
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def kill_while_logging(code: str, args: List[str], cwd, ack_path: Path, acked_before: int,
                       delay: float) -> int:
    """Run ``code`` (a child that prints "ready", then logs, storing in the 8-byte ``ack_path`` the last
    seq whose log() returned), SIGKILL it ``delay`` seconds after its second acknowledged event, and
    return the last seq acknowledged.  ``acked_before`` is what ack_path holds before the child logs.

    The delay counts from the second acknowledgement: on a loaded machine the child may not run at
    all for a while (after its first event, its new threads start and take the GIL), and must never
    be killed before it is logging.
    """
    child = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, cwd=cwd,
                             env=child_env())
    try:
        assert child.stdout.readline() == b"ready\n"
        deadline = time.monotonic() + 30
        while _acknowledged(ack_path) < acked_before + 2:
            assert child.poll() is None, f"the child exited ({child.returncode}) before its second event"
            assert time.monotonic() < deadline, (f"the child acknowledged {_acknowledged(ack_path)} "
                                                 f"after 30 s (before it: {acked_before})")
            time.sleep(0.001)
        time.sleep(delay)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return _acknowledged(ack_path)


def _acknowledged(ack_path: Path) -> int:
    """The seq in ack_path, read until two reads agree: a read() racing the child's 8-byte store may
    copy half of it (from -1 to 0 every byte changes, and a torn read looked like a later seq)."""
    value = None
    while True:
        now = struct.unpack("q", ack_path.read_bytes())[0]
        if now == value:
            return now
        value = now


# -- values of odd types that the encoder tests log (test_serializer, test_batch_properties) --


class Color(enum.IntEnum):
    RED = 1
    BIG = 2**70


class Count(int):
    """An int subclass whose str() is not its value."""

    def __str__(self):
        return "Count(...)"

    __repr__ = __str__


class Ratio(float):
    """A float subclass whose str() is not its value."""

    def __str__(self):
        return "Ratio(...)"

    __repr__ = __str__


class Sub(str):
    """A plain str subclass."""


class Mode(str, enum.Enum):
    """A str-mixin Enum (what enum.StrEnum members are)."""

    FAST = "fast"


class Shade(enum.Enum):
    """A plain Enum: written as its value, whatever that is."""

    LIGHT = "light"
    NUMBERED = 7
    NESTED = {"inner": [1, Mode.FAST]}
    OF_ENUM = Color.RED
    OF_BYTES = b"raw\xff"


_OFFSETS = st.builds(lambda minutes: datetime.timezone(datetime.timedelta(minutes=minutes)),
                     st.integers(-24 * 60 + 1, 24 * 60 - 1))


def json_values(text: st.SearchStrategy) -> st.SearchStrategy:
    """Values of every type log() writes as JSON (text for strings and dict keys), nested in lists,
    tuples and dicts; numpy's too when it is installed."""
    zones = st.none() | _OFFSETS
    leaves = [st.none(), st.booleans(), st.integers(), st.floats(), text,
              st.datetimes(timezones=zones), st.dates(), st.times(timezones=zones),
              st.uuids(), st.decimals(), st.decimals(places=3), st.sampled_from(list(Shade)),
              st.binary(max_size=8), st.builds(bytearray, st.binary(max_size=4)),
              st.builds(memoryview, st.binary(max_size=4))]
    try:
        import numpy as np
    except ImportError:
        pass
    else:
        leaves += [st.builds(np.int64, st.integers(-(2**63), 2**63 - 1)),
                   st.builds(np.uint64, st.integers(0, 2**64 - 1)),
                   st.builds(np.int8, st.integers(-128, 127)), st.builds(np.bool_, st.booleans()),
                   st.floats(width=32).map(np.float32), st.floats(width=16).map(np.float16),
                   st.lists(st.integers(-1000, 1000), max_size=3).map(np.array),
                   st.lists(st.floats(width=32), max_size=3).map(lambda floats: np.array(floats, dtype="f4"))]
    keys = st.one_of(text, st.integers(), st.none(), st.booleans())
    return st.recursive(st.one_of(leaves), lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(keys, inner, max_size=4)), max_leaves=12)


# -- compressed log files (issue 14): reading what compression and retention left --

FINAL_SUFFIXES = (".log", ".log.gz", ".log.zst")


def final_paths(directory, log_file: str = "async_buffered_logs") -> List[Path]:
    """``log_file``'s files under a final name, plain or compressed, in name (= time) order."""
    return sorted(path for path in Path(directory).iterdir()
                  if path.name.startswith(log_file + "_") and path.name.endswith(FINAL_SUFFIXES))


def temporaries(directory) -> List[str]:
    """Hidden ``.NAME.log.gz.tmp`` / ``.NAME.log.zst.tmp`` files a compression left."""
    return sorted(path.name for path in Path(directory).iterdir()
                  if path.name.startswith(".") and path.name.endswith(".tmp"))


def contents_of(path: Path) -> bytes:
    """A log file's bytes, decompressed; fails unless a .gz or .zst file decompresses to its end."""
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        import gzip
        return gzip.decompress(data)  # EOFError on a cut stream, BadGzipFile on garbage
    if path.name.endswith(".zst"):
        import zstandard
        stream = zstandard.ZstdDecompressor().decompressobj()
        out = stream.decompress(data)
        assert stream.eof, f"{path.name}: its zstd frame ends early"
        assert not stream.unused_data, f"{path.name}: bytes after its zstd frame"
        return out
    return data


def events_in(path: Path) -> List[dict]:
    """Parsed lines of a plain or compressed log file; fails on a half file, a torn line, NUL or bad JSON."""
    data = contents_of(path)
    assert b"\0" not in data, f"{path.name} holds NUL bytes"
    assert data == b"" or data.endswith(b"\n"), f"{path.name} ends in a torn line"
    return [json.loads(line) for line in data.splitlines()]


def plain_beside_compressed(directory, log_file: str = "async_buffered_logs") -> List[str]:
    """Names X.log that are in the directory together with X.log.gz or X.log.zst."""
    names = {path.name for path in final_paths(directory, log_file)}
    return sorted(name for name in names if name.endswith(".log")
                  and (name + ".gz" in names or name + ".zst" in names))


def wait_until(condition, what: str, timeout: float = 30.0) -> None:
    """Poll ``condition()`` until true; fail after ``timeout`` seconds saying ``what`` never happened."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not after {timeout} s"
        time.sleep(0.005)
