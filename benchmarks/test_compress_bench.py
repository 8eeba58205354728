"""benchmarks/compress.py's own checking: a run that lost a line or a byte, or never compressed, must stop.

Its checks one by one on small files, then one whole --quick run. Nothing here is timed.
"""

from __future__ import annotations

import json
import os
import zlib

import compress  # benchmarks/compress.py (conftest puts benchmarks/ on sys.path)
import pytest

import fastevlog

zstandard = pytest.importorskip("zstandard")

LINE = b'{"timestamp":"2026-12-04T05:00:00.000000Z","level":"INFO","event_id":"event_7","message":"m"}\n'


def log_name(stamp: str) -> str:
    return f"{compress.LOG_FILE}_{stamp}.log"


def zst(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


def write(path, data: bytes) -> str:
    with open(path, "wb") as file:
        file.write(data)
    return str(path)


class TestLinesIn:
    def test_every_form_is_read(self, tmp_path):
        """Lines of .log, .log.zst and .log.gz files are all counted, other names not."""
        write(tmp_path / log_name("20261204_050000"), LINE * 3)
        write(tmp_path / (log_name("20261204_050001") + ".zst"), zst(LINE * 5))
        gz = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        write(tmp_path / (log_name("20261204_050002") + ".gz"), gz.compress(LINE * 7) + gz.flush())
        write(tmp_path / ("." + log_name("20261204_050003") + ".zst.tmp"), b"half")
        write(tmp_path / "other.log", LINE)
        lines, uncompressed, _ = compress.lines_in(str(tmp_path))
        assert lines == 15
        assert uncompressed == 15 * len(LINE)


class TestCheckAndClear:
    def test_the_file_being_written_stays(self, tmp_path):
        """All but the newest .log go; the lines it holds are returned for the next round's count."""
        write(tmp_path / (log_name("20261204_050000") + ".zst"), zst(LINE * 2))
        write(tmp_path / log_name("20261204_050001"), LINE)
        assert compress.check_and_clear(str(tmp_path), 3, "a round") == 1
        assert os.listdir(tmp_path) == [log_name("20261204_050001")]

    def test_a_lost_line_stops_the_run(self, tmp_path):
        write(tmp_path / log_name("20261204_050000"), LINE * 2)
        with pytest.raises(SystemExit, match="LINE MISMATCH: a round"):
            compress.check_and_clear(str(tmp_path), 3, "a round")


class TestCheckCopies:
    def setup_copies(self, tmp_path):
        sources = tmp_path / "in"
        work = tmp_path / "work"
        sources.mkdir()
        work.mkdir()
        names = [log_name(f"20261204_05000{k}") for k in range(2)]
        paths = [write(sources / name, LINE * (k + 1)) for k, name in enumerate(names)]
        for path, name in zip(paths, names):
            with open(path, "rb") as file:
                write(work / (name + ".zst"), zst(file.read()))
        return paths, work

    def test_whole_copies_pass(self, tmp_path):
        paths, work = self.setup_copies(tmp_path)
        assert compress.check_copies(paths, str(work), ".zst", "x") == sum(
            os.path.getsize(work / name) for name in os.listdir(work))

    def test_a_different_copy_stops_the_run(self, tmp_path):
        paths, work = self.setup_copies(tmp_path)
        target = work / (os.path.basename(paths[1]) + ".zst")
        write(target, zst(LINE))  # one line short
        with pytest.raises(SystemExit, match="CONTENT MISMATCH"):
            compress.check_copies(paths, str(work), ".zst", "x")

    def test_an_original_left_stops_the_run(self, tmp_path):
        paths, work = self.setup_copies(tmp_path)
        write(work / os.path.basename(paths[0]), LINE)
        with pytest.raises(SystemExit, match="still there uncompressed"):
            compress.check_copies(paths, str(work), ".zst", "x")

    def test_a_temporary_left_stops_the_run(self, tmp_path):
        paths, work = self.setup_copies(tmp_path)
        write(work / ("." + os.path.basename(paths[0]) + ".zst.tmp"), b"")
        with pytest.raises(SystemExit, match="temporaries left"):
            compress.check_copies(paths, str(work), ".zst", "x")


def test_fsync_timer_counts_and_restores(tmp_path):
    """Every fsync while active is counted; os.fsync is the real one afterwards, also after an error."""
    real = os.fsync
    path = write(tmp_path / "f", b"x")
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises((OSError, ValueError)), compress.FsyncTimer() as timer:
            os.fsync(fd)
            os.fsync(-1)
    finally:
        os.close(fd)
    assert timer.calls == 2
    assert os.fsync is real


def test_a_round_without_compression_stops_the_run(monkeypatch):
    """(a) whose compressing logger compressed nothing measures nothing: the run stops."""
    real = fastevlog.EventLogCounter

    def never_compressing(**parameters):
        return real(**dict(parameters, compress=None))

    monkeypatch.setattr(compress.fastevlog, "EventLogCounter", never_compressing)
    monkeypatch.setattr(compress, "DRAIN_TIMEOUT", 2.0)
    with pytest.raises(SystemExit, match="compressed nothing"):
        compress.main(["--quick", "--parts", "a"])


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("compress") / "compress.json"
    compress.main(["--quick", "--json", str(path)])
    return json.loads(path.read_text())


def test_quick_run_compressed_in_a(quick_run):
    """(a): the compressing logger compressed files in every round, and no round lost a line (checked)."""
    a = quick_run["a"]
    assert len(a["files_compressed_per_round"]) == a["rounds"]
    assert all(files > 0 for files in a["files_compressed_per_round"])
    assert set(a["median_seconds"]) == {"floor", "without compression", "compress='zstd'"}


def test_quick_run_compared_every_loop_in_b(quick_run):
    """(b): every row ran each round and its files were checked; the references are plain loops."""
    b = quick_run["b"]
    assert {row["kind"] for row in b["rows"].values()} == {"zstd", "gzip"}
    for row in b["rows"].values():
        assert len(row["seconds"]) == quick_run["rounds"]
        assert 0 < row["compressed_bytes"] < row["bytes"] <= b["bytes"]
    # zstd's reference writes fastevlog's frames (a checksum); the fastest default loop is shown beside it.
    assert b["zstd_reference"] == compress.SAME_FRAMES and not b["rows"][compress.SAME_FRAMES]["fastevlog"]
    assert b["zstd_fastest"] not in compress.NOT_REFERENCES and not b["rows"][b["zstd_fastest"]]["fastevlog"]
    assert b["gzip_reference"] == b["gzip_fastest"] not in compress.NOT_REFERENCES
    # Each compressed file, and the directory once for up to 16 of them.
    assert b["rows"]["fastevlog housekeep, zstd"]["fsyncs"] == b["files"] + -(-b["files"] // 16)


def test_quick_run_finished_the_main_job_in_c(quick_run):
    """(c): the compressed run's files hold every event, all compressed after fastevlog compress."""
    c = quick_run["c"]
    run = c["runs"]["--compress zstd"][0]
    assert run["uncompressed_bytes"] == c["runs"]["without compression"][0]["uncompressed_bytes"]
    assert run["left_uncompressed"] + run["compressed_at_exit"] >= run["files_written"]
    assert c["disk_at_end"] < c["disk_uncompressed"]
    assert c["compression_ratio"] > 1
    assert {target["what"][:3] for target in quick_run["targets"]} == {"(a)", "(b)"}


def test_quick_run_says_how_busy_the_machine_was(quick_run):
    """Each part gives the share of the CPUs other processes used meanwhile (Linux: /proc/stat)."""
    if compress.cpu_use() is None:
        pytest.skip("no /proc/stat here")
    for part in "abc":
        assert 0.0 <= quick_run[part]["others_cpu_share"] <= 1.0


def test_others_share_leaves_out_this_process():
    """CPU the machine spent less this process's own, over all CPUs and the wall time between."""
    cores = os.cpu_count() or 1
    assert compress.others_share((100.0, 10.0, 50.0), (100.0 + cores, 10.0 + cores / 2, 51.0)) == 0.5
    assert compress.others_share(None, (1.0, 1.0, 1.0)) is None
