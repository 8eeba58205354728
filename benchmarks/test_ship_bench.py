"""benchmarks/ship.py's own checking: the chunks its bare loop publishes are the shipper's, a round
whose stream misses a message stops the run, and a whole --quick run ends with a byte-identical mirror.

Nothing here is timed; the NATS parts skip without nats-server (fail under FASTEVLOG_REQUIRE_NATS=1).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))

import ship  # noqa: E402  benchmarks/ship.py (conftest puts benchmarks/ on sys.path)
from nats_servers import NatsServer, require_nats_server  # noqa: E402  tests/nats_servers.py

from fastevlog._nats import HEADROOM, ID_HEADER, OFFSET_HEADER, parse_chunk  # noqa: E402

LINE = b'{"timestamp":"2026-12-04T05:00:00.000000Z","level":"INFO","event_id":"event_7","message":"m"}\n'


def write(path, data: bytes) -> None:
    with open(path, "wb") as file:
        file.write(data)


class TestChunksOf:
    def test_whole_lines_under_the_limit_covering_each_file(self, tmp_path):
        """Each file is cut into consecutive chunks of whole lines, each under max_payload - HEADROOM,
        named by deterministic headers the collector accepts."""
        write(tmp_path / "async_buffered_logs_20261204_050000.log", LINE * 100)
        write(tmp_path / "async_buffered_logs_20261204_050001.log", LINE * 7)
        write(tmp_path / "other.txt", b"not shipped\n")
        max_payload = HEADROOM + 10 * len(LINE) + 5
        chunks = ship.chunks_of(str(tmp_path), max_payload)
        assert chunks == ship.chunks_of(str(tmp_path), max_payload)  # the same ids on every call
        rebuilt = {}
        for headers, payload in chunks:
            source = parse_chunk(headers, payload)
            assert len(payload) <= max_payload - HEADROOM and payload.endswith(b"\n")
            assert int(headers[OFFSET_HEADER]) == len(rebuilt.get(source.file, b""))  # no gap, no overlap
            assert headers[ID_HEADER].endswith(f":{source.start}-{source.start + len(payload)}")
            rebuilt[source.file] = rebuilt.get(source.file, b"") + payload
        assert rebuilt == {"async_buffered_logs_20261204_050000.log": LINE * 100,
                           "async_buffered_logs_20261204_050001.log": LINE * 7}
        assert len(chunks) == 10 + 1

    def test_a_line_longer_than_a_chunk_goes_in_parts(self, tmp_path):
        long_line = b'{"level":"INFO","event_id":"e","m":"' + b"x" * 3000 + b'"}\n'
        write(tmp_path / "async_buffered_logs_20261204_050000.log", LINE + long_line + LINE)
        limit = 1000
        chunks = ship.chunks_of(str(tmp_path), HEADROOM + limit)
        payloads = [payload for _, payload in chunks]
        assert b"".join(payloads) == LINE + long_line + LINE
        assert all(len(payload) <= limit for payload in payloads)


@pytest.fixture
def nats_url(tmp_path):
    require_nats_server()
    with NatsServer(tmp_path) as server:
        yield server.url


class TestCheckStream:
    def test_a_missing_message_stops_the_run(self, nats_url):
        asyncio.run(ship._make_stream(nats_url, "S"))
        chunks = [({ID_HEADER: f"id{n}"}, LINE) for n in range(3)]
        asyncio.run(ship._bare(nats_url, "S", chunks))
        with pytest.raises(SystemExit, match="holds 3 messages, expected 4"):
            ship.check_stream(nats_url, "S", 4, "a round")

    def test_a_complete_stream_passes_and_is_deleted(self, nats_url):
        asyncio.run(ship._make_stream(nats_url, "S"))
        asyncio.run(ship._bare(nats_url, "S", [({ID_HEADER: "one"}, LINE)]))
        ship.check_stream(nats_url, "S", 1, "a round")
        # Deleted: the next round may use the name again.
        asyncio.run(ship._make_stream(nats_url, "S"))


def test_quick_run(tmp_path, capsys):
    """One whole --quick run (its own server): every part's checks pass, the JSON holds the figures."""
    require_nats_server()
    path = tmp_path / "ship.json"
    figures = ship.main(["--quick", "--json", str(path)])
    assert json.loads(path.read_text()) == json.loads(json.dumps(figures))
    a, b, c = figures["a"], figures["b"], figures["c"]
    assert a["events"] == 30_000 and a["chunks"] >= 1 and a["bytes"] > 30_000 * 50
    assert a["ratio_to_bare"] > 0 and a["naive_events"] == 200
    assert b["bytes"] == a["bytes"] and b["mirror_identical"] is True
    assert c["events"] == 30_000 and len(c["alone_s"]) == len(c["sidecar_s"]) == len(c["own_s"]) == 1
    out = capsys.readouterr().out
    assert "ratio to bare" in out and "mirror byte-identical" in out and "with --ship-to" in out
