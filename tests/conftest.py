"""Shared helpers: reading back what a logger wrote."""

import json
from pathlib import Path
from typing import List


def log_paths(directory, log_file: str = "async_buffered_logs") -> List[Path]:
    """The log files of ``log_file`` in ``directory``, in name (= time) order."""
    return sorted(Path(directory).glob(f"{log_file}_*.log"))


def read_events(directory, log_file: str = "async_buffered_logs") -> List[dict]:
    """Every line of the log files, parsed, in file order; fails on a torn line."""
    events = []
    for path in log_paths(directory, log_file):
        data = path.read_bytes()
        assert data == b"" or data.endswith(b"\n"), f"{path} ends in a torn line"
        events.extend(json.loads(line) for line in data.splitlines())
    return events


def child_env() -> dict:
    """Environment for a child Python that imports the same fastevlog as this test run."""
    import os

    import fastevlog

    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(fastevlog.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    return env
