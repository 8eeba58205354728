"""`fastevlog compress DIR`, simulate's compression and retention flags, and what `fastevlog recover DIR`
finishes: real runs on a temporary directory, then counted back."""

from __future__ import annotations

import errno
import gzip
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Tuple

import pytest
from support import child_env

import fastevlog
from fastevlog import _compression, cli

zstandard = pytest.importorskip("zstandard")

LOG_FILE = "async_buffered_logs"
EVENTS = 20000
LINE = b'{"timestamp":"2026-12-04T05:00:00Z","level":"INFO","event_id":"e","message":"m"}\n'


def _main(capsys, *args: str) -> Tuple[int, str, str]:
    """(exit status, stdout, stderr) of the command run in this process."""
    try:
        status = cli.main(list(args))
    except SystemExit as exit:  # argparse's usage errors
        status = exit.code
    out, err = capsys.readouterr()
    return status, out, err


def _simulate(capsys, directory: Path, *flags: str, events: int = EVENTS) -> str:
    """simulate's stdout after a small run that leaves many files (tiny --max-file-size)."""
    status, out, err = _main(capsys, "simulate", "--events", str(events), "--threads", "2", "--dir",
                             str(directory), "--max-file-size", "100000", "--no-progress", *flags)
    assert status == 0, err
    return out


def _forms(directory: Path) -> List[str]:
    """The suffix of each log file in the directory: .log, .log.gz or .log.zst."""
    return sorted(name[name.index(".log"):] for name in os.listdir(directory) if ".log" in name)


def _closed_file(directory: Path, stamp: str, lines: int, log_file: str = LOG_FILE) -> Path:
    """A closed log file as a stopped logger leaves it."""
    path = directory / f"{log_file}_{stamp}.log"
    path.write_bytes(LINE * lines)
    return path


@pytest.fixture
def simulated(tmp_path, capsys) -> Path:
    """A directory of about 25 closed log files holding EVENTS events, none compressed."""
    _simulate(capsys, tmp_path)
    assert _forms(tmp_path).count(".log") > 10
    return tmp_path


class TestCompressCommand:
    @pytest.mark.parametrize("kind", ["gzip", "zstd"])
    def test_compresses_every_closed_file_and_counts_the_same(self, simulated, capsys, kind):
        """Every file of a stopped logger compressed, each named on stdout; count finds every event."""
        files = len(os.listdir(simulated))
        status, out, err = _main(capsys, "compress", str(simulated), "--compress", kind)
        assert (status, err) == (0, "")
        suffix = {"gzip": ".log.gz", "zstd": ".log.zst"}[kind]
        assert _forms(simulated) == [suffix] * files
        assert out.count(f"compressed {simulated}{os.sep}{LOG_FILE}_") == files
        assert out.splitlines()[-1].startswith(f"{LOG_FILE}: {files} compressed, 0 deleted (0 bytes), "
                                               f"0 not compressed")
        assert fastevlog.count(str(simulated)).total == EVENTS

    def test_default_is_zstd_and_again_does_nothing(self, simulated, capsys):
        status, _, _ = _main(capsys, "compress", str(simulated))
        assert status == 0 and set(_forms(simulated)) == {".log.zst"}
        status, out, err = _main(capsys, "compress", str(simulated), "--compress", "gzip")
        assert (status, err) == (0, "")
        assert out == f"{LOG_FILE}: 0 compressed, 0 deleted (0 bytes), 0 not compressed (being written, " \
                      "empty, awaiting recovery or failed)\n"
        assert set(_forms(simulated)) == {".log.zst"}

    def test_default_without_zstandard_is_gzip(self, simulated, capsys, monkeypatch):
        monkeypatch.setitem(sys.modules, "zstandard", None)
        status, _, err = _main(capsys, "compress", str(simulated))
        assert (status, err) == (0, "") and set(_forms(simulated)) == {".log.gz"}

    def test_zstd_asked_without_zstandard_exits_1(self, simulated, capsys, monkeypatch):
        monkeypatch.setitem(sys.modules, "zstandard", None)
        status, out, err = _main(capsys, "compress", str(simulated), "--compress", "zstd")
        assert (status, out) == (1, "")
        assert err == "fastevlog: --compress zstd needs the zstandard package: pip install " \
                      "'fastevlog[zstd]', or use --compress gzip\n"
        assert set(_forms(simulated)) == {".log"}

    def test_keep_files(self, simulated, capsys):
        """--keep-files 3: the three newest files stay (compressed), the others are deleted."""
        names = sorted(os.listdir(simulated))
        newest = fastevlog.count([str(simulated / name) for name in names[-3:]]).total
        status, out, err = _main(capsys, "compress", str(simulated), "--keep-files", "3")
        assert (status, err) == (0, "")
        assert sorted(os.listdir(simulated)) == [name + ".zst" for name in names[-3:]]
        assert sum(line.startswith("deleted ") for line in out.splitlines()) == len(names) - 3
        assert f"3 compressed, {len(names) - 3} deleted" in out
        assert fastevlog.count(str(simulated)).total == newest

    def test_keep_bytes(self, simulated, capsys):
        """--keep-bytes: the newest files whose compressed sizes add up to at most that many stay."""
        _main(capsys, "compress", str(simulated), "--compress", "gzip")
        sizes = [(simulated / name).stat().st_size for name in sorted(os.listdir(simulated))]
        status, _, err = _main(capsys, "compress", str(simulated), "--keep-bytes", str(sum(sizes[-2:])))
        assert (status, err) == (0, "")
        assert len(os.listdir(simulated)) == 2

    def test_keep_days(self, simulated, capsys):
        """--keep-days: files last written longer ago than that are deleted, whatever their number."""
        names = sorted(os.listdir(simulated))
        ten_days_ago = time.time() - 10 * 86400
        for name in names[:4]:
            os.utime(simulated / name, (ten_days_ago, ten_days_ago))
        status, out, err = _main(capsys, "compress", str(simulated), "--keep-days", "9.5")
        assert (status, err) == (0, "")
        assert sorted(os.listdir(simulated)) == [name + ".zst" for name in names[4:]]
        assert "keep_days=9.5" in out

    def test_log_file_only_that_name(self, tmp_path, capsys):
        _closed_file(tmp_path, "20261204_050000", 10, "a")
        _closed_file(tmp_path, "20261204_050000", 10, "b")
        status, out, err = _main(capsys, "compress", str(tmp_path), "--log-file", "b")
        assert (status, err) == (0, "")
        assert sorted(os.listdir(tmp_path)) == ["a_20261204_050000.log", "b_20261204_050000.log.zst"]
        assert "a:" not in out

    def test_every_base_name_by_default(self, tmp_path, capsys):
        _closed_file(tmp_path, "20261204_050000", 10, "a")
        _closed_file(tmp_path, "20261204_050000_000001", 10, "b_c")
        (tmp_path / "notes.log").write_bytes(LINE)  # not a fastevlog name: left alone
        status, out, _ = _main(capsys, "compress", str(tmp_path), "--compress", "gzip")
        assert status == 0
        assert sorted(os.listdir(tmp_path)) == [
            "a_20261204_050000.log.gz", "b_c_20261204_050000_000001.log.gz", "notes.log"]
        assert out.count(": 1 compressed") == 2

    def test_no_log_files(self, tmp_path, capsys):
        assert _main(capsys, "compress", str(tmp_path)) == (0, f"no log files in {tmp_path}\n", "")

    def test_a_running_loggers_file_is_left_alone(self, tmp_path, capsys):
        """Safe while a logger writes DIR: its open file is not touched, its closed ones are compressed."""
        closed = _closed_file(tmp_path, "20261204_050000", 100)
        with fastevlog.EventLogCounter(directory=str(tmp_path), flush_interval=0.01) as logger:
            logger.info("e", "written while compress runs")
            logger.flush()
            status, out, err = _main(capsys, "compress", str(tmp_path))
            assert (status, err) == (0, "")
            assert "1 compressed, 0 deleted (0 bytes), 1 not compressed" in out
            assert not closed.exists() and Path(f"{closed}.zst").exists()
        assert fastevlog.count(str(tmp_path)).total == 101

    def test_finishes_what_a_killed_compressor_left(self, tmp_path, capsys):
        """A stale temporary is removed; an original beside its whole compressed copy is removed."""
        pair = _closed_file(tmp_path, "20261204_050000", 50)
        Path(f"{pair}.gz").write_bytes(gzip.compress(pair.read_bytes()))
        halfway = _closed_file(tmp_path, "20261204_050001", 50)
        temporary = tmp_path / _compression.temporary_name(halfway.name + ".zst")
        temporary.write_bytes(b"\x28\xb5\x2f\xfd half a frame")
        status, _, err = _main(capsys, "compress", str(tmp_path))
        assert (status, err) == (0, "")
        assert sorted(os.listdir(tmp_path)) == [pair.name + ".gz", halfway.name + ".zst"]
        assert fastevlog.count(str(tmp_path)).total == 100

    def test_a_failed_compression_exits_1_and_keeps_the_file(self, tmp_path, capsys, monkeypatch):
        """A full disk while compressing: the original kept, no temporary left, the error on stderr."""
        path = _closed_file(tmp_path, "20261204_050000", 50)

        def disk_full(*args):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(_compression, "_write_all", disk_full)
        status, out, err = _main(capsys, "compress", str(tmp_path))
        assert status == 1
        assert f"cannot compress {path}" in err and "No space left on device" in err
        assert err.splitlines()[-1].startswith("fastevlog: not every file could be compressed or deleted")
        assert "0 compressed, 0 deleted (0 bytes), 1 not compressed" in out
        assert os.listdir(tmp_path) == [path.name]

    def test_from_the_shell(self, tmp_path):
        """The installed command end to end: simulate, compress, count."""
        def run(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([sys.executable, "-m", "fastevlog", *args], capture_output=True, text=True,
                                  timeout=120, cwd=tmp_path, env=child_env())

        logs = str(tmp_path / "logs")
        result = run("simulate", "--events", "5000", "--threads", "2", "--dir", logs, "--max-file-size",
                     "50000", "--no-progress", "--compress", "gzip", "--compress-level", "1")
        assert result.returncode == 0, result.stderr
        assert run("compress", logs, "--compress", "gzip").returncode == 0
        assert set(_forms(Path(logs))) == {".log.gz"}
        result = run("count", logs, "--format", "json", "--by", "level")
        assert result.returncode == 0, result.stderr
        assert '"total": 5000' in result.stdout


class TestCompressUsage:
    @pytest.mark.parametrize(("flags", "error"), [
        (["--compress", "bz2"], "argument --compress: invalid choice: 'bz2'"),
        (["--compress", "gzip", "--compress-level", "10"],
         "--compress-level must be 1 to 9 for --compress gzip, not 10"),
        (["--compress-level", "23"], "--compress-level must be 1 to 22 for --compress zstd, not 23"),
        (["--compress-level", "0"], "argument --compress-level: must be at least 1, not 0"),
        (["--keep-files", "-1"], "argument --keep-files: must be at least 0, not -1"),
        (["--keep-bytes", "1G"], "argument --keep-bytes: must be a whole number, not '1G'"),
        (["--keep-days", "0"], "argument --keep-days: must be a positive number of days, not '0'"),
        (["--keep-days", "nan"], "argument --keep-days: must be a positive number of days, not 'nan'"),
        (["--keep-days", "a week"], "argument --keep-days: must be a number of days, not 'a week'"),
        (["--log-file", "a/b"], "argument --log-file: must be a plain file name without a directory part"),
    ])
    def test_bad_flag_exits_2_naming_it(self, simulated, capsys, flags, error):
        status, out, err = _main(capsys, "compress", str(simulated), *flags)
        assert (status, out) == (2, "")
        assert err.startswith("usage: fastevlog compress")
        assert err.splitlines()[-1].startswith(f"fastevlog compress: error: {error}"), err
        assert set(_forms(simulated)) == {".log"}

    def test_no_directory_exits_2(self, capsys):
        status, _, err = _main(capsys, "compress")
        assert status == 2 and "the following arguments are required: DIR" in err

    def test_a_missing_directory_exits_1(self, capsys, tmp_path):
        assert _main(capsys, "compress", str(tmp_path / "nope")) == \
            (1, "", f"fastevlog: {tmp_path / 'nope'} is not a directory\n")


class TestSimulateFlags:
    def test_compress_and_keep_are_passed_to_the_logger(self, tmp_path, capsys, monkeypatch):
        made = {}
        logger_class = cli.EventLogCounter

        def recorded(**parameters):
            made.update(parameters)
            return logger_class(**parameters)

        monkeypatch.setattr(cli, "EventLogCounter", recorded)
        out = _simulate(capsys, tmp_path, "--compress", "gzip", "--compress-level", "2", "--keep-files", "4",
                        "--keep-bytes", "100000000", "--keep-days", "1.5", events=3000)
        assert {name: made[name] for name in ("compress", "compress_level", "keep_files", "keep_bytes",
                                               "keep_days")} == \
            {"compress": "gzip", "compress_level": 2, "keep_files": 4, "keep_bytes": 100000000,
             "keep_days": 1.5}
        assert "\ncompressed " in out and "\ndeleted    " in out

    def test_without_them_nothing_is_said(self, tmp_path, capsys):
        out = _simulate(capsys, tmp_path, events=3000)
        assert "compressed" not in out and "deleted" not in out

    def test_then_compress_then_count(self, tmp_path, capsys):
        """Whatever the housekeeper compressed or not before stop(), compress finishes; every event counts."""
        out = _simulate(capsys, tmp_path, "--compress", "zstd")
        assert "compressed " in out and " failures" in out
        status, _, err = _main(capsys, "compress", str(tmp_path))
        assert (status, err) == (0, "")
        assert set(_forms(tmp_path)) == {".log.zst"}
        assert fastevlog.count(str(tmp_path)).total == EVENTS

    def test_verify_reads_compressed_files(self, tmp_path, capsys):
        """--verify counts the lines of .log, .log.gz and .log.zst files, each file once."""
        _simulate(capsys, tmp_path, events=3000)
        names = sorted(os.listdir(tmp_path))
        assert len(names) >= 3
        gzipped, zstd, both = (tmp_path / name for name in names[:3])
        Path(f"{gzipped}.gz").write_bytes(gzip.compress(gzipped.read_bytes()))
        gzipped.unlink()
        Path(f"{zstd}.zst").write_bytes(zstandard.ZstdCompressor().compress(zstd.read_bytes()))
        zstd.unlink()
        Path(f"{both}.zst").write_bytes(zstandard.ZstdCompressor().compress(both.read_bytes()))
        assert cli._verify(str(tmp_path), LOG_FILE) == 3000

    @pytest.mark.parametrize(("flags", "error"), [
        (["--compress-level", "3"], "--compress-level needs --compress gzip or --compress zstd"),
        (["--compress", "gzip", "--compress-level", "12"],
         "--compress-level must be 1 to 9 for --compress gzip, not 12"),
        (["--keep-files", "x"], "argument --keep-files: must be a whole number, not 'x'"),
        (["--keep-days", "-1"], "argument --keep-days: must be a positive number of days, not '-1'"),
        (["--compress", "lz4"], "argument --compress: invalid choice: 'lz4'"),
        (["--keep-bytes", "1000", "--verify"], "--verify checks that the files hold every event, and "
                                               "--keep-bytes deletes files: leave one of them out"),
    ])
    def test_bad_flag_exits_2_naming_it(self, tmp_path, capsys, flags, error):
        directory = tmp_path / "logs"
        status, out, err = _main(capsys, "simulate", "--events", "10", "--no-progress",
                                 "--dir", str(directory), *flags)
        assert (status, out) == (2, "")
        assert err.splitlines()[-1].startswith(f"fastevlog simulate: error: {error}"), err
        assert not directory.exists()

    def test_zstd_without_zstandard_exits_1(self, tmp_path, capsys, monkeypatch):
        monkeypatch.setitem(sys.modules, "zstandard", None)
        status, out, err = _main(capsys, "simulate", "--events", "10", "--no-progress", "--dir",
                                 str(tmp_path / "logs"), "--compress", "zstd")
        assert (status, out) == (1, "")
        assert err.startswith("fastevlog: --compress zstd needs the zstandard package")
        assert not (tmp_path / "logs").exists()


class TestRecoverFinishesCompressions:
    def test_a_compression_cut_short_is_finished(self, tmp_path, capsys):
        """recover removes an original whose compressed copy is whole, and a stale temporary."""
        pair = _closed_file(tmp_path, "20261204_050000", 30)
        Path(f"{pair}.zst").write_bytes(zstandard.ZstdCompressor().compress(pair.read_bytes()))
        halfway = _closed_file(tmp_path, "20261204_050001", 30)
        (tmp_path / _compression.temporary_name(halfway.name + ".gz")).write_bytes(b"\x1f\x8b")
        status, out, err = _main(capsys, "recover", str(tmp_path))
        assert (status, err) == (0, "")
        assert out == (f"no buffer files in {tmp_path}\n"
                       "finished 1 compression(s) cut short by killed processes\n")
        assert sorted(os.listdir(tmp_path)) == [pair.name + ".zst", halfway.name]

    def test_only_the_log_file_asked(self, tmp_path, capsys):
        pair = _closed_file(tmp_path, "20261204_050000", 30, "other")
        Path(f"{pair}.gz").write_bytes(gzip.compress(pair.read_bytes()))
        status, out, _ = _main(capsys, "recover", str(tmp_path), "--log-file", LOG_FILE)
        assert status == 0 and "finished" not in out
        assert sorted(os.listdir(tmp_path)) == [pair.name, pair.name + ".gz"]
        status, out, _ = _main(capsys, "recover", str(tmp_path))
        assert status == 0 and "finished 1 compression(s)" in out
        assert os.listdir(tmp_path) == [pair.name + ".gz"]
