"""`fastevlog collect`: its flags and their errors, a run to --until-idle, SIGTERM, and a whole trip
simulate -> ship -> collect against a real nats-server, the mirror byte-identical to the source."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest
from nats_servers import (
    NatsServer,
    assert_mirror_equals,
    make_stream,
    publish_messages,
    require_nats_server,
    wait_until,
)
from support import child_env

from fastevlog import _nats, cli

HOST = "web-1"
FILE = "app_20261204_160000.log"


def _main(capsys, *args: str) -> Tuple[int, str, str]:
    """(exit status, stdout, stderr) of the command run in this process."""
    try:
        status = cli.main(list(args))
    except SystemExit as exit:  # argparse's usage errors and --help
        status = exit.code
    out, err = capsys.readouterr()
    return status, out, err


def _fastevlog(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fastevlog", *args], cwd=cwd, env=child_env(),
                          capture_output=True, text=True, timeout=timeout)


def test_help_names_every_flag(capsys):
    status, out, _ = _main(capsys, "collect", "--help")
    assert status == 0
    for flag in ("--nats", "--dir", "--stream", "--durable", "--batch", "--ack-wait", "--until-idle"):
        assert flag in out
    assert "DIR/HOST/FILE" in out and "Exit status" in out
    assert "collect" in _main(capsys, "--help")[1]


@pytest.mark.parametrize("flags, named", [
    (["--nats", "127.0.0.1:4222"], "--nats"),
    (["--nats", ""], "--nats"),
    (["--stream", "a.b"], "--stream"),
    (["--durable", "x y"], "--durable"),
    (["--batch", "0"], "--batch"),
    (["--ack-wait", "0"], "--ack-wait"),
    (["--ack-wait", "nan"], "--ack-wait"),
    (["--until-idle", "-1"], "--until-idle"),
])
def test_bad_flags_are_named(capsys, tmp_path, flags, named):
    arguments = {"--nats": "nats://127.0.0.1:4222", "--dir": str(tmp_path / "m")}
    arguments.update(zip(flags[::2], flags[1::2]))
    status, _, err = _main(capsys, "collect", *[part for pair in arguments.items() for part in pair])
    assert status == 2
    assert f"error: {named}" in err or f"argument {named}" in err, err
    assert not (tmp_path / "m").exists()


def test_missing_flags(capsys, tmp_path):
    assert _main(capsys, "collect", "--dir", str(tmp_path))[0] == 2
    status, _, err = _main(capsys, "collect", "--nats", "nats://127.0.0.1:4222")
    assert status == 2 and "--dir" in err


def test_a_dir_that_cannot_be_made_fails(capsys, tmp_path):
    """--dir under a regular file: exit status 1 and the reason, before any server is needed."""
    require_nats_server()  # nats-py, at least
    (tmp_path / "file").write_text("")
    with socket.socket() as unused:  # a port nobody listens on: never reached
        unused.bind(("127.0.0.1", 0))
        url = f"nats://127.0.0.1:{unused.getsockname()[1]}"
        status, _, err = _main(capsys, "collect", "--nats", url, "--dir", str(tmp_path / "file" / "m"))
    assert status == 1 and err.startswith("fastevlog: ") and "file" in err


def _chunks(data: bytes, size: int) -> List[Tuple[dict, bytes]]:
    return [(_nats.chunk_headers(HOST, FILE, start, start + len(data[start:start + size])),
             data[start:start + size]) for start in range(0, len(data), size)]


DATA = b"".join(b'{"level": "INFO", "event_id": "e%d", "n": %d}\n' % (n % 7, n) for n in range(3000))


def test_until_idle_collects_and_reports(tmp_path):
    """A run to --until-idle: exit status 0, the mirror whole, the counts on stdout, the invalid message
    rejected and said on stderr."""
    with NatsServer(tmp_path) as server:
        make_stream(server.url, "S", ["S.events"])
        invalid = ({"Fastevlog-Host": "..", "Fastevlog-File": FILE, "Fastevlog-Offset": "0"}, b"x\n")
        publish_messages(server.url, "S.events", _chunks(DATA, 5000) + [invalid])
        done = _fastevlog("collect", "--nats", f"{server.url},{server.url}", "--dir", "m", "--stream", "S",
                          "--batch", "3", "--until-idle", "0.5", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m" / HOST / FILE).read_bytes() == DATA
    chunks = len(_chunks(DATA, 5000))
    assert f"collected {chunks} chunks ({len(DATA):,} bytes) from S into m; 1 rejected" in done.stdout
    assert "rejected message" in done.stderr and "'..'" in done.stderr
    assert sorted(os.listdir(tmp_path / "m")) == [HOST]


def test_sigterm_finishes_and_exits_0(tmp_path):
    """SIGTERM while collecting: what was fetched is written and acked, exit status 0 with the counts."""
    with NatsServer(tmp_path) as server:
        make_stream(server.url, "S", ["S.events"])
        child = subprocess.Popen([sys.executable, "-m", "fastevlog", "collect", "--nats", server.url, "--dir",
                                  "m", "--stream", "S", "--durable", "mine"], cwd=tmp_path, env=child_env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            publish_messages(server.url, "S.events", _chunks(DATA, 4000))
            target = tmp_path / "m" / HOST / FILE
            wait_until(lambda: target.exists() and target.read_bytes() == DATA, 30, "the mirrored file")
            child.send_signal(signal.SIGTERM)
            out, err = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert child.returncode == 0, err
        assert f"collected {len(_chunks(DATA, 4000))} chunks" in out

        async def pending() -> Tuple[int, int]:
            import nats

            nc = await nats.connect(server.url)
            try:
                info = await nc.jetstream().consumer_info("S", "mine")
                return info.num_pending, info.num_ack_pending
            finally:
                await nc.close()

        assert asyncio.run(pending()) == (0, 0)


def test_simulate_ship_collect_count(tmp_path):
    """The README's trip on one machine: simulate writes DIR, ship publishes it, collect mirrors it
    byte for byte, and count reads the mirror."""
    require_nats_server()
    source = tmp_path / "logs"
    simulated = _fastevlog("simulate", "--events", "20000", "--threads", "2", "--dir", str(source),
                           "--max-file-size", "400000", "--no-progress", cwd=tmp_path)
    assert simulated.returncode == 0, simulated.stderr
    assert len(list(source.glob("*.log"))) > 1
    with NatsServer(tmp_path) as server:
        shipped = _fastevlog("ship", str(source), "--nats", server.url, "--host", HOST, "--until-idle", "1",
                             cwd=tmp_path)
        assert shipped.returncode == 0, shipped.stderr
        collected = _fastevlog("collect", "--nats", server.url, "--dir", "mirror", "--until-idle", "1",
                               cwd=tmp_path)
        assert collected.returncode == 0, collected.stderr
    assert_mirror_equals(source, tmp_path / "mirror" / HOST)
    counted = _fastevlog("count", "mirror", "--by", "level", "--format", "json", cwd=tmp_path)
    assert counted.returncode == 0 and '"total": 20000' in counted.stdout


def test_sigterm_while_no_server_answers(tmp_path):
    """No server at --nats: the collector waits for one (no exit of its own, even with --until-idle:
    an outage is not idleness) and a SIGTERM ends it with status 0."""
    require_nats_server()  # nats-py, at least
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        url = f"nats://127.0.0.1:{unused.getsockname()[1]}"
        child = subprocess.Popen([sys.executable, "-m", "fastevlog", "collect", "--nats", url, "--dir", "m",
                                  "--until-idle", "0.2"], cwd=tmp_path, env=child_env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # DIR is made once the signal handlers are in place, before connecting.
            wait_until(lambda: (tmp_path / "m").is_dir() or child.poll() is not None, 30, "--dir made")
            with pytest.raises(subprocess.TimeoutExpired):  # still waiting for a server
                child.wait(timeout=1)
            child.send_signal(signal.SIGTERM)
            out, err = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert child.returncode == 0, err
    assert "collected 0 chunks" in out
