"""Shipping to NATS JetStream (issue 15), side by side in one run, against one nats-server on loopback.

(a) throughput: fastevlog's Shipper shipping --events of ``fastevlog simulate``'s output (a directory
    of 10 MiB files, in the page cache) to a fresh stream, until every byte is acked, against a bare
    nats-py loop publishing the same chunks (the same bytes cut at the same places, with the same
    headers, already in memory) one at a time and awaiting each ack, as the shipper does. Rounds
    interleaved, medians. Also nats-py publishing one JetStream message per event (the naive way), on
    the first --naive-events lines. Every round's stream is checked to hold every byte once.
(b) the collector beside the shipper: both started together on a fresh stream; when the shipper's last
    chunk is acked and when the collector has written the last one; the mirror is then compared with
    the source, byte for byte.
(c) the main job: ``fastevlog simulate`` (--main-events) alone, with ``fastevlog ship DIR`` running
    beside it (a sidecar process started first; how long it needed after simulate ended to ship the
    rest), and with ``--ship-to`` (the logger's own shipper thread; simulate's wall time then includes
    stop()'s wait, up to 5 s, for the rest). Rounds interleaved; medians of simulate's own wall time.

    python benchmarks/ship.py [--parts a,b,c] [--events 3000000] [--naive-events 20000] [--rounds 5]
                              [--main-events 10000000] [--main-rounds 3] [--server-nice N] [--json PATH]
                              [--quick]

Needs nats-server on PATH (Debian's package) and nats-py. --quick: tiny sizes, a few seconds
(benchmarks/test_ship_bench.py runs it). Machines here are shared and noisy: read the ratios of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib import metadata
from typing import Any, Dict, List, Optional, Sequence, Tuple

import fastevlog
from fastevlog._collector import Collector
from fastevlog._directory import LogDirectory
from fastevlog._nats import HEADROOM, chunk_headers
from fastevlog._shipper import Shipper, _chunk_end

MB = 1_000_000
HOST = "bench"


# -- the server ------------------------------------------------------------------------------------


class Server:
    """One nats-server with JetStream on a free loopback port, its store in a scratch directory."""

    def __init__(self, scratch: str, nice: int = 0) -> None:
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not os.path.exists(binary):
            raise SystemExit("benchmarks/ship.py needs nats-server (Debian: apt-get install nats-server)")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"nats://127.0.0.1:{port}"
        config = os.path.join(scratch, "nats.conf")
        with open(config, "w") as file:
            file.write(f'listen: "127.0.0.1:{port}"\njetstream {{ store_dir: "{scratch}/store" }}\n')
        with open(os.path.join(scratch, "nats.log"), "w") as log:
            self.process = subprocess.Popen([binary, "-c", config], stdout=subprocess.DEVNULL, stderr=log,
                                            preexec_fn=(lambda: os.nice(nice)) if nice else None)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


async def _connect(url: str) -> Any:
    import nats

    return await nats.connect(url)


async def _make_stream(url: str, stream: str) -> int:
    """A fresh stream on fastevlog.STREAM; the server's max_payload."""
    from nats.js.api import StorageType, StreamConfig

    nc = await _connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=stream, subjects=[f"fastevlog.{stream}"],
                                         storage=StorageType.FILE))
        return int(nc.max_payload)
    finally:
        await nc.close()


async def _stream_state(url: str, stream: str) -> Tuple[int, int]:
    nc = await _connect(url)
    try:
        state = (await nc.jetstream().stream_info(stream)).state
        return int(state.messages), int(state.bytes)
    finally:
        await nc.close()


async def _delete_stream(url: str, stream: str) -> None:
    nc = await _connect(url)
    try:
        await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


# -- the input -------------------------------------------------------------------------------------


def simulate(directory: str, events: int, *extra: str) -> float:
    """Run fastevlog simulate; its printed wall time in seconds."""
    # From the directory's parent: in the repository's root `python -m` would find the uncompiled source.
    done = subprocess.run([sys.executable, "-m", "fastevlog", "simulate", "--events", str(events), "--dir",
                           directory, "--no-progress", *extra], capture_output=True, text=True, check=True,
                          cwd=os.path.dirname(directory))
    return float(re.search(r"wall time\s+([0-9.]+) s", done.stdout).group(1))


def log_files(directory: str) -> List[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".log"))


def chunks_of(directory: str, max_payload: int) -> List[Tuple[Dict[str, str], bytes]]:
    """The chunks the shipper cuts, with their headers: what the bare loop publishes."""
    limit = max_payload - HEADROOM
    chunks = []
    for name in log_files(directory):
        with open(os.path.join(directory, name), "rb") as file:
            data = file.read()
        offset = 0
        while offset < len(data):
            piece = data[offset:offset + limit]
            end = _chunk_end(piece, limit)
            assert end > 0, f"{name}: nothing to ship at {offset}"
            chunks.append((chunk_headers(HOST, name, offset, offset + end), piece[:end]))
            offset += end
    return chunks


def clear_cursors(directory: str) -> None:
    for name in os.listdir(directory):
        if name.startswith(".fastevlog-ship-"):
            os.unlink(os.path.join(directory, name))


# -- (a) throughput --------------------------------------------------------------------------------


def ship_round(url: str, directory: str, stream: str) -> Tuple[float, Any]:
    asyncio.run(_make_stream(url, stream))
    opened = LogDirectory(directory, 0o640)
    try:
        shipper = Shipper(fastevlog.NatsShipper(url, stream=stream, host=HOST), opened)
        start = time.perf_counter()
        shipper.run(until_idle=0.0)
        elapsed = time.perf_counter() - start
    finally:
        opened.close()
        clear_cursors(directory)
    return elapsed, shipper.report


async def _bare(url: str, stream: str, chunks: Sequence[Tuple[Dict[str, str], bytes]]) -> float:
    nc = await _connect(url)
    try:
        js = nc.jetstream()
        subject = f"fastevlog.{stream}"
        start = time.perf_counter()
        for headers, payload in chunks:
            await js.publish(subject, payload, stream=stream, headers=dict(headers))
        return time.perf_counter() - start
    finally:
        await nc.close()


def bare_round(url: str, stream: str, chunks: Sequence[Tuple[Dict[str, str], bytes]]) -> float:
    asyncio.run(_make_stream(url, stream))
    return asyncio.run(_bare(url, stream, chunks))


async def _naive(url: str, stream: str, lines: Sequence[bytes]) -> float:
    nc = await _connect(url)
    try:
        js = nc.jetstream()
        subject = f"fastevlog.{stream}"
        start = time.perf_counter()
        for line in lines:
            await js.publish(subject, line)
        return time.perf_counter() - start
    finally:
        await nc.close()


def check_stream(url: str, stream: str, messages: int, what: str) -> None:
    """The stream holds exactly so many messages (the bytes are the shipper's report's, or the chunks'); then
    it is deleted."""
    held, _ = asyncio.run(_stream_state(url, stream))
    if held != messages:
        raise SystemExit(f"{what}: the stream holds {held} messages, expected {messages}")
    asyncio.run(_delete_stream(url, stream))


def part_a(args: argparse.Namespace, url: str, source: str) -> dict:
    max_payload = asyncio.run(_make_stream(url, "PROBE"))
    chunks = chunks_of(source, max_payload)
    total = sum(len(payload) for _, payload in chunks)
    events = sum(payload.count(b"\n") for _, payload in chunks)
    ours, bare = [], []
    for round_ in range(args.rounds):
        elapsed, report = ship_round(url, source, f"SHIP{round_}")
        if report.shipped_bytes != total or report.shipped_events != events:
            raise SystemExit(f"the shipper acked {report.shipped_bytes} bytes, {report.shipped_events} "
                             f"lines; expected {total}, {events}")
        check_stream(url, f"SHIP{round_}", len(chunks), "the shipper")
        ours.append(elapsed)
        bare.append(bare_round(url, f"BARE{round_}", chunks))
        check_stream(url, f"BARE{round_}", len(chunks), "the bare loop")
    with open(os.path.join(source, log_files(source)[0]), "rb") as file:
        lines = file.read().splitlines(keepends=True)[:args.naive_events]
    asyncio.run(_make_stream(url, "NAIVE"))
    naive = asyncio.run(_naive(url, "NAIVE", lines))
    check_stream(url, "NAIVE", len(lines), "the naive loop")
    ours_s, bare_s = statistics.median(ours), statistics.median(bare)
    return {"events": events, "bytes": total, "chunks": len(chunks), "max_payload": max_payload,
            "rounds": args.rounds, "shipper_s": ours, "bare_s": bare,
            "shipper_events_per_s": events / ours_s, "shipper_mb_per_s": total / ours_s / MB,
            "bare_events_per_s": events / bare_s, "bare_mb_per_s": total / bare_s / MB,
            "ratio_to_bare": bare_s / ours_s,
            "naive_events": len(lines), "naive_events_per_s": len(lines) / naive}


# -- (b) the collector beside the shipper ----------------------------------------------------------


def part_b(args: argparse.Namespace, url: str, source: str, scratch: str) -> dict:
    asyncio.run(_make_stream(url, "BOTH"))
    mirror = os.path.join(scratch, "mirror")
    total = sum(os.path.getsize(os.path.join(source, name)) for name in log_files(source))
    collector = Collector(url, "BOTH", mirror, ack_wait=30.0)
    done = threading.Event()
    collected_at: List[float] = []

    def collect() -> None:
        def stopping() -> bool:
            if collector.report.bytes >= total and not collected_at:
                collected_at.append(time.perf_counter())
            return done.is_set() or bool(collected_at)
        collector.run(stopping)

    thread = threading.Thread(target=collect)
    opened = LogDirectory(source, 0o640)
    start = time.perf_counter()
    thread.start()
    shipper = Shipper(fastevlog.NatsShipper(url, stream="BOTH", host=HOST), opened)
    shipper.run(until_idle=0.0)
    shipped = time.perf_counter() - start
    thread.join(120)
    done.set()
    thread.join(30)
    opened.close()
    clear_cursors(source)
    if not collected_at:
        raise SystemExit(f"the collector wrote {collector.report.bytes} of {total} bytes within 120 s")
    for name in log_files(source):
        with open(os.path.join(source, name), "rb") as a, open(os.path.join(mirror, HOST, name), "rb") as b:
            if a.read() != b.read():
                raise SystemExit(f"the mirror of {name} differs from its source")
    asyncio.run(_delete_stream(url, "BOTH"))
    return {"bytes": total, "shipped_s": shipped, "collected_s": collected_at[0] - start,
            "collector_behind_s": collected_at[0] - start - shipped, "mirror_identical": True}


# -- (c) the main job ------------------------------------------------------------------------------


def part_c(args: argparse.Namespace, url: str, scratch: str) -> dict:
    alone, sidecar, own, sidecar_rest, own_lag = [], [], [], [], []
    for round_ in range(args.main_rounds):
        directory = os.path.join(scratch, f"alone{round_}")
        alone.append(simulate(directory, args.main_events))
        shutil.rmtree(directory)

        directory = os.path.join(scratch, f"sidecar{round_}")
        os.makedirs(directory)
        stream = f"SIDE{round_}"
        ship = subprocess.Popen([sys.executable, "-m", "fastevlog", "ship", directory, "--nats", url,
                                 "--stream", stream, "--host", HOST, "--until-idle", "0.5"],
                                stdout=subprocess.PIPE, text=True, cwd=scratch)
        sidecar.append(simulate(directory, args.main_events))
        ended = time.perf_counter()
        out, _ = ship.communicate(timeout=600)
        sidecar_rest.append(time.perf_counter() - ended - 0.5)
        written = sum(os.path.getsize(os.path.join(directory, name)) for name in log_files(directory))
        if f"({written:,} bytes)" not in out:
            raise SystemExit(f"the sidecar did not ship the {written:,} bytes written: {out}")
        asyncio.run(_delete_stream(url, stream))
        shutil.rmtree(directory)

        directory = os.path.join(scratch, f"own{round_}")
        stream = f"OWN{round_}"
        wall = simulate(directory, args.main_events, "--ship-to", url, "--ship-stream", stream)
        own.append(wall)
        with open(os.path.join(directory, f".fastevlog-ship-{stream}.json")) as file:
            acked = json.load(file)["files"]
        own_lag.append(sum(os.path.getsize(os.path.join(directory, name)) - acked.get(name, 0)
                           for name in log_files(directory)))
        asyncio.run(_delete_stream(url, stream))
        shutil.rmtree(directory)
    alone_s = statistics.median(alone)
    return {"events": args.main_events, "rounds": args.main_rounds, "alone_s": alone, "sidecar_s": sidecar,
            "own_s": own, "sidecar_ratio": statistics.median(sidecar) / alone_s,
            "own_ratio": statistics.median(own) / alone_s, "sidecar_rest_s": sidecar_rest,
            "own_unshipped_bytes_at_exit": own_lag}


# -- the report ------------------------------------------------------------------------------------


def report(figures: dict) -> str:
    lines = [f"fastevlog {fastevlog.__version__}, nats-py {metadata.version('nats-py')}, "
             f"{figures['server']}, Python {platform.python_version()}, {os.cpu_count()} CPUs"]
    a = figures.get("a")
    if a:
        lines += [
            f"(a) {a['events']:,} events, {a['bytes'] / MB:,.1f} MB in {a['chunks']} chunks "
            f"(max_payload {a['max_payload']:,}), median of {a['rounds']} rounds:",
            f"    fastevlog Shipper         {a['shipper_events_per_s']:>12,.0f} events/s acked "
            f"{a['shipper_mb_per_s']:8.1f} MB/s",
            f"    bare nats-py, same chunks {a['bare_events_per_s']:>12,.0f} events/s acked "
            f"{a['bare_mb_per_s']:8.1f} MB/s",
            f"    ratio to bare             {a['ratio_to_bare']:.2f}x (target >= 0.8; >= 1M events/s)",
            f"    nats-py, a message per event {a['naive_events_per_s']:>9,.0f} events/s "
            f"(on {a['naive_events']:,} events)"]
    b = figures.get("b")
    if b:
        lines += [f"(b) shipper and collector together, {b['bytes'] / MB:,.1f} MB: last ack "
                  f"{b['shipped_s']:.2f} s, last write {b['collected_s']:.2f} s "
                  f"({b['collector_behind_s']:+.2f} s); mirror byte-identical"]
    c = figures.get("c")
    if c:
        lines += [
            f"(c) fastevlog simulate, {c['events']:,} events, median of {c['rounds']} rounds (wall time):",
            f"    alone                     {statistics.median(c['alone_s']):.2f} s",
            f"    with fastevlog ship beside {statistics.median(c['sidecar_s']):.2f} s = "
            f"{c['sidecar_ratio']:.2f}x (target <= 1.3); it shipped the rest in "
            f"{statistics.median(c['sidecar_rest_s']):.2f} s more",
            f"    with --ship-to            {statistics.median(c['own_s']):.2f} s = {c['own_ratio']:.2f}x "
            f"(stop() waits up to 5 s for the rest; unshipped at exit: "
            f"{statistics.median(c['own_unshipped_bytes_at_exit']) / MB:,.1f} MB)"]
    return "\n".join(lines)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="a,b,c", help="which parts to run (default a,b,c)")
    parser.add_argument("--events", type=int, default=3_000_000, help="(a), (b) events shipped")
    parser.add_argument("--naive-events", type=int, default=20_000, help="(a) events of the naive loop")
    parser.add_argument("--rounds", type=int, default=5, help="(a) rounds (default %(default)s)")
    parser.add_argument("--main-events", type=int, default=10_000_000, help="(c) simulate's --events")
    parser.add_argument("--main-rounds", type=int, default=3, help="(c) rounds (default %(default)s)")
    parser.add_argument("--server-nice", type=int, default=0,
                        help="run nats-server at this nice value: on one machine its CPU is taken from the "
                             "main job, as it would not with the server on a machine of its own (default 0)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the benchmark runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.naive_events, args.rounds = 30_000, 200, 1
        args.main_events, args.main_rounds = 30_000, 1
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    parts = set(args.parts.split(","))
    scratch = tempfile.mkdtemp(prefix="fastevlog-ship-bench-")
    server = Server(scratch, args.server_nice)
    try:
        version = subprocess.run([shutil.which("nats-server") or "/usr/sbin/nats-server", "--version"],
                                 capture_output=True, text=True).stdout.strip()
        niced = f" at nice +{args.server_nice}" if args.server_nice else ""
        figures: Dict[str, Any] = {"server": version + niced}
        source = os.path.join(scratch, "source")
        if parts & {"a", "b"}:
            simulate(source, args.events)
        if "a" in parts:
            figures["a"] = part_a(args, server.url, source)
        if "b" in parts:
            figures["b"] = part_b(args, server.url, source, scratch)
        if "c" in parts:
            figures["c"] = part_c(args, server.url, scratch)
    finally:
        server.close()
        shutil.rmtree(scratch, ignore_errors=True)
    print(report(figures))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(figures, file, indent=1)
    return figures


if __name__ == "__main__":
    main()
