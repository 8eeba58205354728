"""The nats-server harness itself (tests/nats_servers.py): the shipping tests trust it to start real
servers, kill them for real, keep their store across a restart and form a JetStream cluster."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
from nats_servers import (
    NatsCluster,
    NatsServer,
    assert_mirror_equals,
    free_ports,
    make_stream,
    mirror_differences,
    require_nats_server,
    run_async,
    stream_messages,
)


@pytest.fixture(autouse=True)
def _nats_server():
    require_nats_server()


async def _publish(url, subject, payloads, *, headers=None, retry_for: float = 0.0):
    import nats

    nc = await nats.connect(url.split(","), connect_timeout=2, max_reconnect_attempts=-1,
                            reconnect_time_wait=0.2)
    try:
        js = nc.jetstream(timeout=5)
        acks = []
        for payload in payloads:
            deadline = asyncio.get_running_loop().time() + retry_for
            while True:
                try:
                    acks.append(await js.publish(subject, payload, headers=headers))
                    break
                except Exception:
                    if asyncio.get_running_loop().time() > deadline:
                        raise
                    await asyncio.sleep(0.2)
        return acks, nc.max_payload
    finally:
        await nc.close()


def test_free_ports_are_distinct():
    ports = free_ports(8)
    assert len(set(ports)) == 8


def test_start_publish_and_ack(tmp_path):
    with NatsServer(tmp_path) as server:
        assert server.url.startswith("nats://127.0.0.1:")
        make_stream(server.url, "T", ["t.x"])
        acks, _ = run_async(_publish(server.url, "t.x", [b"a\n", b"b\n"]))
        assert [ack.seq for ack in acks] == [1, 2]
        assert stream_messages(server.url, "T") == 2
    assert not server.running()


def test_kill_and_restart_keep_the_stream(tmp_path):
    server = NatsServer(tmp_path).start()
    try:
        make_stream(server.url, "T", ["t.x"])
        run_async(_publish(server.url, "t.x", [b"%d\n" % i for i in range(50)]))
        pid = server.pid
        server.kill()
        assert not server.running()
        server.restart()
        assert server.pid != pid
        assert stream_messages(server.url, "T") == 50
        # A duplicate id within the window is still dropped after the restart (the store kept it).
        acks, _ = run_async(_publish(server.url, "t.x", [b"x\n", b"x\n"], headers={"Nats-Msg-Id": "same"}))
        assert not acks[0].duplicate and acks[1].duplicate
        assert stream_messages(server.url, "T") == 51
    finally:
        server.kill()


def test_stop_is_a_clean_shutdown(tmp_path):
    server = NatsServer(tmp_path).start()
    server.stop()
    # nats-server exits with status 1 on SIGTERM; a clean shutdown shows in its log, not its status.
    assert server.process.returncode != -9, server.log_tail()
    assert "Server Exiting" in server.log_tail(), server.log_tail()


def test_max_payload_is_applied(tmp_path):
    with NatsServer(tmp_path, max_payload=64 * 1024) as server:
        make_stream(server.url, "T", ["t.x"])
        _, max_payload = run_async(_publish(server.url, "t.x", [b"x"]))
        assert max_payload == 64 * 1024


def test_start_failure_names_the_log(tmp_path):
    first = NatsServer(tmp_path, name="first").start()
    try:
        # Same client port: the second server cannot listen and exits; the error carries its log.
        second = NatsServer(tmp_path, name="second", port=first.port)
        with pytest.raises(RuntimeError, match="log tail"):
            second.start(timeout=10)
        second.kill()
    finally:
        first.kill()


def test_cluster_forms_and_survives_a_node_killed(tmp_path):
    with NatsCluster(tmp_path, size=3) as cluster:
        assert len(cluster.url_list) == 3 and cluster.urls.count(",") == 2
        make_stream(cluster.urls, "R", ["r.x"], replicas=3)
        run_async(_publish(cluster.urls, "r.x", [b"%d\n" % i for i in range(20)]))
        leader = cluster.stream_leader("R")
        leader.kill()
        others = [node for node in cluster.nodes if node is not leader]
        # Publishes fail while the two survivors elect a new stream leader (several seconds): retried.
        urls = ",".join(node.url for node in others)
        run_async(_publish(urls, "r.x", [b"%d\n" % i for i in range(20, 30)], retry_for=30))
        assert stream_messages(urls, "R") == 30
        assert cluster.stream_leader("R") is not leader
    assert all(not node.running() for node in cluster.nodes)


def test_no_server_left_after_an_exception(tmp_path):
    with pytest.raises(ZeroDivisionError), NatsServer(tmp_path) as server:
        pid = server.pid
        1 / 0  # noqa: B018
    # The process is reaped: signalling it now fails.
    assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0


def test_mirror_comparison_names_the_first_difference(tmp_path):
    source, mirror = tmp_path / "src", tmp_path / "mirror" / "host"
    source.mkdir()
    mirror.mkdir(parents=True)
    (source / "a_1.log").write_bytes(b"one\ntwo\n")
    (mirror / "a_1.log").write_bytes(b"one\ntwo\n")
    assert_mirror_equals(source, mirror)
    (mirror / "a_1.log").write_bytes(b"one\ntwX\n")
    (source / "empty_1.log").write_bytes(b"")  # nothing to ship: no mirror expected
    (source / "b_1.log").write_bytes(b"x\n")
    problems = mirror_differences(source, mirror)
    assert len(problems) == 2, problems
    assert any("offset 6" in problem for problem in problems), problems
    assert any("b_1.log: missing" in problem for problem in problems), problems
    with pytest.raises(AssertionError, match="first difference at offset 6"):
        assert_mirror_equals(source, mirror)
