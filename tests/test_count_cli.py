"""`fastevlog count`: the command around fastevlog.count(), end to end (flags, formats, stdin, errors)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import count_corpus as corpus
import count_reference as reference
import pytest
from support import child_env

from fastevlog import cli

zstandard = pytest.importorskip("zstandard")

Source = Tuple[str, bytes]


def fastevlog_count(*args: str, stdin: bytes = b"", cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fastevlog", "count", *args], input=stdin, cwd=cwd,
                          capture_output=True, timeout=120, env=child_env())


def main(capsysbinary, *args: str) -> Tuple[int, str, str]:
    """(exit status, stdout, stderr) of `fastevlog count ARGS` run in this process."""
    try:
        status = cli.main(["count", *args])
    except SystemExit as exit:  # argparse's usage errors
        status = exit.code
    out, err = capsysbinary.readouterr()
    return status, out.decode(), err.decode()


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> List[Source]:
    """Two hosts' files: another writer's lines and the damaged copies of them."""
    directory = tmp_path_factory.mktemp("count-cli")
    rng = random.Random(5)
    sources = corpus.other_writer_sources(rng, 300)
    sources += corpus.damaged_sources(sources, rng)
    written = []
    for index, (_, data) in enumerate(sources):
        path = directory / f"host{index % 2}" / f"{index}.log"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        written.append((str(path), data))
    return written


def reference_json(sources, by=("level", "event_id"), top=None, **options) -> str:
    result = reference.count_reference(sources, by=by, **options)
    return reference.as_json(result, by, top)


class TestFormats:
    def test_json(self, capsysbinary, logs):
        """--format json prints exactly the reference's object, then a newline; exit status 0."""
        status, out, err = main(capsysbinary, *(path for path, _ in logs), "--format", "json")
        assert (status, out, err) == (0, reference_json(logs) + "\n", "")

    def test_json_every_flag(self, capsysbinary, logs):
        directory = str(Path(logs[0][0]).parent.parent)
        status, out, _ = main(capsysbinary, directory, "--by", "source,hour,field:host", "--since",
                              "2026-11-28T16:03:05Z", "--until", "2026-11-29", "--level", "warn,ERROR",
                              "--event-id", "[ae]*", "--format", "json", "--top", "3", "--jobs", "2")
        assert status == 0
        assert out == reference_json([(directory, data) for _, data in logs],
                                     ("source", "hour", "field:host"), top=3, since="2026-11-28T16:03:05Z",
                                     until="2026-11-29", levels=["warn", "ERROR"],
                                     event_id_glob="[ae]*") + "\n"

    def test_csv(self, capsysbinary, logs):
        """A header row, then the groups as the JSON orders them; bad lines said on stderr."""
        status, out, err = main(capsysbinary, logs[0][0], "--format", "csv", "--by", "event_id,level")
        document = json.loads(reference_json(logs[:1], ("event_id", "level")))
        rows = list(csv.reader(io.StringIO(out)))
        assert status == 0
        assert rows == [["event_id", "level", "count"]] + [
            [str(group["event_id"]), group["level"], str(group["count"])] for group in document["groups"]]
        assert f"{document['bad_lines']} bad lines" in err

    def test_table(self, capsysbinary, logs):
        """Aligned with the total; the bad lines on stderr."""
        status, out, err = main(capsysbinary, *(path for path, _ in logs), "--by", "level")
        document = json.loads(reference_json(logs, ("level",)))
        lines = out.split("\n")[:-1]
        assert status == 0
        assert lines[0].split() == ["level", "count"]
        assert [line.split() for line in lines[1:-1]] == [[group["level"], f"{group['count']:,}"]
                                                          for group in document["groups"]]
        assert lines[-1].split() == ["total", f"{document['total']:,}"]
        assert len({len(line) for line in lines}) == 1
        assert err == (f"fastevlog: {document['bad_lines']:,} bad lines skipped (not a JSON object with a "
                       "string level and a string or integer event_id)\n")

    def test_top(self, capsysbinary, logs):
        """--top K: the K largest groups; the total is still every group's."""
        status, out, _ = main(capsysbinary, logs[0][0], "--top", "2", "--format", "json")
        assert (status, out) == (0, reference_json(logs[:1], top=2) + "\n")
        status, out, _ = main(capsysbinary, logs[0][0], "--top", "2")
        assert out.split("\n")[-2].startswith("(2 of ")

    def test_non_ascii_output(self, capsysbinary, tmp_path):
        """Ids are written as UTF-8 whatever the locale."""
        path = tmp_path / "a.log"
        path.write_bytes('{"level":"INFO","event_id":"\u00e9\u4e2d\U0001f600"}\n'.encode())
        status, out, _ = main(capsysbinary, str(path), "--format", "json")
        assert '"event_id": "\u00e9\u4e2d\U0001f600"' in out


class TestInput:
    @pytest.mark.parametrize("compress", [lambda data: data, gzip.compress,
                                          lambda data: zstandard.ZstdCompressor().compress(data)],
                             ids=["plain", "gzip", "zstd"])
    def test_stdin(self, tmp_path, logs, compress):
        """PATH - is standard input, plain or compressed; its source is '-'."""
        data = b"".join(data for _, data in logs[:2])
        done = fastevlog_count("-", logs[3][0], "--format", "json", "--by", "source,event_id",
                               stdin=compress(data), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.decode() == reference_json([("-", data), logs[3]], ("source", "event_id")) + "\n"

    def test_damaged_file_is_reported(self, capsysbinary, tmp_path, logs):
        """A cut .gz: its lines so far counted, one line on stderr, exit status 0."""
        data = logs[0][1]
        path = tmp_path / "cut.log.gz"
        path.write_bytes(gzip.compress(data)[:-20])
        status, out, err = main(capsysbinary, str(path), "--format", "json")
        assert status == 0
        assert json.loads(out)["total"] > 0
        assert err == (f"fastevlog: {path}: truncated: the gzip stream ends inside a member; its lines "
                       "before that are counted\n")


class TestErrors:
    @pytest.mark.parametrize("args, message", [
        (["--by", "level,colour"], "argument --by: unknown key 'colour'"),
        (["--by", "field:a,field:b"], "argument --by: one field:NAME key at a time"),
        (["--since", "yesterday"], "argument --since='yesterday': expected RFC 3339"),
        (["--until", "2026-11-28T25:00:00Z"], "argument --until='2026-11-28T25:00:00Z'"),
        (["--since", "2026-11-29", "--until", "2026-11-28"], "--since='2026-11-29' is not before --until="),
        (["--top", "0"], "argument --top: must be at least 1, not 0"),
        (["--jobs", "0"], "argument --jobs: must be at least 1, not 0"),
        (["--jobs", "many"], "argument --jobs: must be a whole number"),
        (["--format", "xml"], "argument --format: invalid choice: 'xml'"),
    ])
    def test_bad_flag(self, capsysbinary, logs, args, message):
        """Exit status 2 and one error line naming the flag, nothing on stdout."""
        status, out, err = main(capsysbinary, logs[0][0], *args)
        assert (status, out) == (2, "")
        error_line = err.strip().split("\n")[-1]
        assert error_line.startswith("fastevlog count: error: ")
        assert message.replace("argument ", "") in error_line or message in error_line

    def test_missing_path(self, capsysbinary, tmp_path, logs):
        status, out, err = main(capsysbinary, logs[0][0], str(tmp_path / "nowhere.log"))
        assert (status, out) == (2, "")
        assert err.strip().split("\n")[-1] == \
            f"fastevlog count: error: PATH '{tmp_path}/nowhere.log' does not exist"

    def test_no_path(self, capsysbinary):
        status, _, err = main(capsysbinary)
        assert status == 2
        assert "PATH" in err

    def test_help_lists_the_flags(self, capsysbinary):
        status, out, _ = main(capsysbinary, "--help")
        assert status == 0
        for flag in ("--by", "--since", "--until", "--level", "--event-id", "--format", "--top", "--jobs"):
            assert flag in out
