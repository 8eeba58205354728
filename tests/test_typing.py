"""What mypy --strict tells a user of fastevlog: the mistakes the types catch, and no complaint otherwise."""

import os
import re
import subprocess
import sys
import sysconfig
import textwrap

import pytest

import fastevlog

pytest.importorskip("mypy")

# Each line marked "# expect error" must be reported, and nothing else in either file.
_MISTAKES = '''
    import fastevlog

    fastevlog.log("INFO", 3.5)  # expect error
    fastevlog.log(2.5, "e")  # expect error
    fastevlog.log(None, "e")  # expect error
    fastevlog.configure(bogus=1)  # expect error
    fastevlog.configure("app")  # expect error
    fastevlog.configure(on_full="wait")  # expect error
    fastevlog.configure(rotate_every="weekly")  # expect error
    fastevlog.configure(flush_interval="1")  # expect error
    fastevlog.configure(level=None)  # expect error
    fastevlog.EventLogCounter(on_full="drops")  # expect error
    with fastevlog.EventLogCounter() as events:
        events.info(None)  # expect error
        events.log("INFO", b"e")  # expect error
'''

_CORRECT = '''
    import logging
    import time
    from pathlib import Path
    from typing import Dict

    import fastevlog

    custom_level: str = "NOTICE"
    logger: fastevlog.EventLogCounter = fastevlog.configure(
        log_file="app", directory=Path("logs"), buffer_size=1000, buffer_bytes=1 << 20, flush_interval=0.5,
        max_file_size=1 << 20, rotate_every="daily", num_workers=2, max_retries=1, on_full="drop",
        level="info", file_mode=0o600, clock=time.time, install_signal_handlers=False)
    fastevlog.configure(rotate_every=None, level=logging.WARNING, directory="logs")
    fastevlog.log("INFO", "user_login", "User logged in.", user_id=42, tags=["a"])
    fastevlog.log(logging.ERROR, 7)
    fastevlog.log(custom_level, "e", None)
    fastevlog.flush()
    with fastevlog.EventLogCounter(directory="logs", on_full="block", rotate_every="hourly") as events:
        events.warning("disk", "almost full", free=0.1)
        events.log("debug", 3, path=Path("x"))
        written: int = events.metrics()["events_written"]
        per_level: Dict[str, int] = events.counts()["levels"]
    fastevlog.stop()
'''

_ERROR_LINE = re.compile(r"^(?P<file>[^:]+\.py):(?P<line>\d+): error: ")


def _mypy_path() -> str:
    """Where mypy finds this fastevlog: its parent directory, unless that is site-packages, where mypy
    looks by itself (and which it refuses in mypy_path)."""
    parent = os.path.dirname(os.path.dirname(os.path.abspath(fastevlog.__file__)))
    installed = {os.path.realpath(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")}
    return "" if os.path.realpath(parent) in installed else parent


def test_mypy_strict_catches_the_mistakes_and_nothing_else(tmp_path):
    mistakes = tmp_path / "mistakes.py"
    correct = tmp_path / "correct.py"
    mistakes.write_text(textwrap.dedent(_MISTAKES))
    correct.write_text(textwrap.dedent(_CORRECT))
    # A user's view: fastevlog's own modules checked but not reported on, as for an installed package.
    config = tmp_path / "mypy.ini"
    config.write_text(f"[mypy]\nmypy_path = {_mypy_path()}\n[mypy-fastevlog.*]\nfollow_imports = silent\n")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", str(config),
         "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", "--hide-error-context",
         mistakes.name, correct.name],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr + done.stdout
    reported = set()
    for line in done.stdout.splitlines():
        found = _ERROR_LINE.match(line)
        if found:
            reported.add((found["file"], int(found["line"])))
    expected = {(mistakes.name, number) for number, text in enumerate(mistakes.read_text().splitlines(), 1)
                if text.endswith("# expect error")}
    assert sorted(reported) == sorted(expected), done.stdout
