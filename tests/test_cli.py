"""The fastevlog command, end to end."""

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from dead_buffers import LOG_FILE, lines, log_then_die
from support import child_env, log_paths, read_events

import fastevlog
from fastevlog import cli

# Every parameter name simulate passes to EventLogCounter: none may reach the user.
PARAMETER_NAMES = re.compile(r"\b(log_file|buffer_size|buffer_bytes|flush_interval|max_file_size|"
                             r"rotate_every|num_workers|max_retries|on_full|directory=|level=|compress=|"
                             r"compress_level|keep_files|keep_bytes|keep_days|None)")


def _fastevlog(*args, cwd):
    return subprocess.run([sys.executable, "-m", "fastevlog", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, env=child_env())


def _main(capsys, *args):
    """(exit status, stdout, stderr) of the command run in this process."""
    try:
        status = cli.main(list(args))
    except SystemExit as exit:  # argparse: --version, --help and usage errors
        status = exit.code
    out, err = capsys.readouterr()
    return status, out, err


COMMANDS = ["simulate", "recover", "count", "compress", "ship", "collect"]


def _subcommand_parsers():
    """{name: parser} for the top-level parser and each subcommand's."""
    parser = cli._parser()
    parsers = {"fastevlog": parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            parsers.update(action.choices)
    return parsers


class TestVersionAndHelp:
    def test_version(self, capsys):
        """--version prints the package's version on stdout and exits 0."""
        assert _main(capsys, "--version") == (0, f"fastevlog {fastevlog.__version__}\n", "")

    def test_every_command_is_there(self):
        assert set(_subcommand_parsers()) == {"fastevlog", *COMMANDS}

    @pytest.mark.parametrize("name", ["fastevlog", *COMMANDS])
    def test_every_option_has_help(self, name):
        """Each flag and argument of each command says what it does."""
        parser = _subcommand_parsers()[name]
        for action in parser._actions:
            assert action.help and action.help != argparse.SUPPRESS, action.option_strings or action.dest

    @pytest.mark.parametrize("name", ["fastevlog", *COMMANDS])
    def test_help_has_no_formatting_leftovers(self, name):
        """--help shows no %% or %(...) that argparse did not expand (the description is not %-formatted)."""
        text = _subcommand_parsers()[name].format_help()
        assert "%%" not in text and "%(" not in text, text
        assert name != "simulate" or "event_{i % 1000}" in text

    def test_help_exits_0(self, capsys):
        status, out, _ = _main(capsys, "simulate", "--help")
        assert status == 0 and "--buffer-bytes BYTES" in out


class TestSimulate:
    def test_small_run(self, tmp_path):
        """simulate writes exactly N events with the seed's ids, levels and messages."""
        result = _fastevlog("simulate", "--events", "20000", "--threads", "4", "--dir", str(tmp_path),
                            "--max-file-size", "500000", "--verify", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "events     20,000" in result.stdout
        assert "verified   20,000 lines" in result.stdout
        events = read_events(tmp_path)
        assert len(events) == 20000
        ids = {}
        for e in events:
            ids[e["event_id"]] = ids.get(e["event_id"], 0) + 1
            assert e["message"] == f"Event {e['event_id']} occurred."
        assert ids == {f"event_{k}": 20 for k in range(1000)}
        assert sum(e["level"] == "INFO" for e in events) == 10000
        assert len(list(tmp_path.glob("*.log"))) > 1

    def test_noop_floor(self, tmp_path):
        """--noop runs the same loop and writes nothing."""
        result = _fastevlog("simulate", "--events", "1000", "--noop", "--no-progress", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "no-op" in result.stdout
        assert list(tmp_path.iterdir()) == []

    def test_progress_on_stderr(self, tmp_path):
        """Live progress goes to stderr, the summary to stdout."""
        result = _fastevlog("simulate", "--events", "300000", "--threads", "2", "--flush-interval", "0.1",
                            cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "events/s" in result.stdout
        assert "ev" in result.stderr

    def test_bad_parameter_is_a_usage_error(self, tmp_path):
        """A bad flag exits 2 with argparse's usage and a last line naming the flag."""
        result = _fastevlog("simulate", "--buffer-bytes", "10", cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.startswith("usage: fastevlog simulate")
        assert result.stderr.splitlines()[-1] == \
            "fastevlog simulate: error: --buffer-bytes must be at least 65_536, not 10"


class TestRecover:
    def test_recovers_and_says_how_many(self, tmp_path):
        """A dead buffer file: its events written, the count on stdout, exit status 0."""
        log_then_die(tmp_path, 300)
        result = _fastevlog("recover", str(tmp_path), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"{LOG_FILE}: recovered 300 events\n"
        assert len(read_events(tmp_path)) == 300

    def test_nothing_to_recover(self, tmp_path):
        result = _fastevlog("recover", str(tmp_path), cwd=tmp_path)
        assert (result.returncode, result.stdout) == (0, f"no buffer files in {tmp_path}\n")

    def test_a_file_it_cannot_recover_fails_the_command(self, tmp_path):
        """An unreadable buffer file is set aside: named on stderr, exit status 1."""
        (tmp_path / f"{LOG_FILE}.7-0.buffer").write_bytes(lines(0, 10))
        result = _fastevlog("recover", str(tmp_path), cwd=tmp_path)
        assert result.returncode == 1
        assert f"{LOG_FILE}.7-0.buffer.quarantined" in result.stderr and "bad magic" in result.stderr
        assert "1 buffer file(s) could not be recovered completely" in result.stderr


class TestExitStatus:
    @pytest.mark.parametrize(("flags", "error"), [
        (["--buffer-bytes", "10"], "--buffer-bytes must be at least 65_536, not 10"),
        (["--num-workers", "0"], "--num-workers must be at least 1, not 0"),
        (["--max-retries", "-1"], "--max-retries must be at least 0, not -1"),
        (["--flush-interval", "0"], "--flush-interval must be a positive, finite number"),
        (["--log-file", "a/b"], "--log-file must be a plain file name without a directory part "
                                "(--dir names the folder)"),
        (["--dir", ""], "--dir must not be empty"),
        (["--events", "-1"], "argument --events: must be at least 0, not -1"),
        (["--threads", "0"], "argument --threads: must be at least 1, not 0"),
        (["--events", "1e6"], "argument --events: must be a whole number, not '1e6'"),
        (["--level", "nope"], "argument --level: invalid choice: 'NOPE'"),
    ])
    def test_bad_flag_value_exits_2_naming_the_flag(self, capsys, tmp_path, flags, error):
        """Checked before anything runs: exit 2, the flag in the message, no parameter name, nothing made."""
        directory = tmp_path / "logs"
        if "--dir" not in flags:
            flags = [*flags, "--dir", str(directory)]
        status, out, err = _main(capsys, "simulate", "--events", "10", "--no-progress", *flags)
        assert status == 2 and out == ""
        assert err.splitlines()[-1].startswith(f"fastevlog simulate: error: {error}"), err
        assert not PARAMETER_NAMES.search(err), err
        assert not directory.exists()

    @pytest.mark.parametrize("where", ["a_file", "a_file/logs"])
    def test_a_directory_it_cannot_make_exits_1(self, capsys, tmp_path, where):
        """The file system refuses --dir while running: exit 1, one line naming --dir, no traceback."""
        (tmp_path / "a_file").write_text("")
        status, out, err = _main(capsys, "simulate", "--events", "10", "--no-progress",
                                 "--dir", str(tmp_path / where))
        assert (status, out) == (1, "")
        assert err.startswith(f"fastevlog: cannot start the logger in --dir {tmp_path / where}: ")
        assert err.count("\n") == 1 and "Traceback" not in err

    def test_a_failing_producer_exits_1(self, capsys, monkeypatch):
        """An error in a producer thread stops the run: exit 1 with one line, not a traceback per thread."""
        def failing(*args):
            raise OSError("the disk went away")

        monkeypatch.setattr(cli, "_produce", failing)
        status, out, err = _main(capsys, "simulate", "--events", "10", "--noop", "--no-progress")
        assert status == 1 and "events     0 of 10, stopped early" in out
        assert err == "fastevlog: a producer thread failed: OSError: the disk went away\n"

    def test_interrupted_before_running_exits_130(self, capsys, monkeypatch, tmp_path):
        """Ctrl-C outside the producers' run (here in recover): exit 130, one line."""
        def interrupted(args):
            raise KeyboardInterrupt

        monkeypatch.setattr(cli, "recover_command", interrupted)
        assert _main(capsys, "recover", str(tmp_path)) == (130, "", "fastevlog: interrupted\n")

    def test_recover_a_missing_directory_exits_1(self, capsys, tmp_path):
        assert _main(capsys, "recover", str(tmp_path / "nope")) == \
            (1, "", f"fastevlog: {tmp_path / 'nope'} is not a directory\n")

    @pytest.mark.parametrize(("flags", "error"), [
        (["--log-file", "a/b"], "argument --log-file: must be a plain file name without a directory part "
                                "(DIR names the folder)"),
        (["--max-file-size", "0"], "argument --max-file-size: must be at least 1, not 0"),
    ])
    def test_recover_bad_flag_exits_2(self, capsys, tmp_path, flags, error):
        status, _, err = _main(capsys, "recover", str(tmp_path), *flags)
        assert status == 2
        assert err.splitlines()[-1].startswith(f"fastevlog recover: error: {error}"), err
        assert not PARAMETER_NAMES.search(err), err

    def test_a_closed_stdout_exits_1_quietly(self, tmp_path):
        """`fastevlog simulate | head -0`: exit 1, no BrokenPipeError traceback at print or at exit."""
        read_end, write_end = os.pipe()
        os.close(read_end)  # before the child starts: its first write fails, deterministically
        try:
            result = subprocess.run(
                [sys.executable, "-m", "fastevlog", "simulate", "--events", "10", "--noop", "--no-progress"],
                stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=60,
                env=child_env())
        finally:
            os.close(write_end)
        assert (result.returncode, result.stderr) == (1, "")


class TestNameFlags:
    def test_parameter_names_become_flags(self):
        assert cli.name_flags("buffer_bytes must be at least 65_536, not 10", cli.SIMULATE_FLAGS) == \
            "--buffer-bytes must be at least 65_536, not 10"
        assert cli.name_flags("on_full must be 'block' or 'drop'", cli.SIMULATE_FLAGS) == \
            "--on-full must be 'block' or 'drop'"

    def test_plain_words_only_as_subject_or_keyword(self):
        """directory and level are English too: replaced only where they name the parameter."""
        message = "log_file must be a plain file name without a directory part (directory= names the folder)"
        assert cli.name_flags(message, cli.SIMULATE_FLAGS) == \
            "--log-file must be a plain file name without a directory part (--dir names the folder)"
        assert cli.name_flags("directory must not be empty", cli.SIMULATE_FLAGS) == "--dir must not be empty"
        assert cli.name_flags("unknown level 'X'", cli.SIMULATE_FLAGS) == "unknown level 'X'"

    def test_every_logger_parameter_simulate_passes_has_its_flag(self):
        """A parameter added to simulate's EventLogCounter call without a flag here would leak its name."""
        flags = {action.dest: action.option_strings for action in _subcommand_parsers()["simulate"]._actions}
        for parameter, flag in cli.SIMULATE_FLAGS.items():
            assert flag in flags[parameter], parameter


class TestSignalsSet:
    def test_the_first_signal_sets_stop_and_the_second_is_not_caught(self, capfd):
        """After one SIGINT, the default action is back: a second one ends the process without waiting."""
        stop, received = threading.Event(), []
        # As a shell starts a command in the foreground: a background job (nohup, CI) starts with
        # SIGINT ignored, and _signals_set() rightly leaves it so.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            with cli._signals_set(stop, received):
                signal.raise_signal(signal.SIGINT)  # runs the handler before the next line
                assert stop.is_set() and received == [signal.SIGINT]
                # Said by the handler itself: at once, even if the producers are stuck in log().
                assert "fastevlog: SIGINT: stopping the producers" in capfd.readouterr().err
                assert signal.getsignal(signal.SIGINT) == signal.SIG_DFL
                assert signal.getsignal(signal.SIGTERM) != signal.SIG_DFL
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
        finally:
            signal.signal(signal.SIGINT, previous)

    def test_an_ignored_signal_stays_ignored(self):
        """A background job of a shell script starts with SIGINT ignored: it stays so, as in any command."""
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            with cli._signals_set(threading.Event(), []):
                assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
                assert signal.getsignal(signal.SIGTERM) != signal.SIG_DFL
        finally:
            signal.signal(signal.SIGINT, previous)


class TestInterrupt:
    @pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
    def test_stops_promptly_and_writes_what_was_logged(self, tmp_path, signum):
        """SIGINT (Ctrl-C) or SIGTERM while writing: the producers stop, every event logged is in the
        files exactly once, the summary says how many, exit status 128 + the signal."""
        # The child as a shell starts it: SIGINT raising KeyboardInterrupt, even if this test
        # runs in a background job, which ignores SIGINT (and Python keeps it ignored).
        code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                "signal.signal(signal.SIGTERM, signal.SIG_DFL); "
                "from fastevlog.cli import main; sys.exit(main(sys.argv[1:]))")
        child = subprocess.Popen(
            [sys.executable, "-c", code, "simulate", "--events", str(10**10), "--threads", "4",
             "--dir", str(tmp_path), "--no-progress"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
        try:
            deadline = time.monotonic() + 60
            while not log_paths(tmp_path) and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert log_paths(tmp_path), "simulate wrote no log file"
            child.send_signal(signum)
            # 10**10 events take hours: returning at all means the producers stopped.
            out, err = child.communicate(timeout=60)
        finally:
            child.kill()
            child.wait()
        assert child.returncode == 128 + signum, err
        name = signal.Signals(signum).name
        assert f"\nfastevlog: {name}: stopping the producers and writing what they logged" in err
        summary = dict(re.findall(r"^(\w+) +([\d,]+)", out, re.MULTILINE))
        events = int(summary["events"].replace(",", ""))
        assert f"events     {events:,} of {10**10:,}, stopped early" in out
        assert f"logged     {events:,} events" in out
        assert f"written    {events:,} events, 0 dropped" in out
        written = read_events(tmp_path)  # each line parsed: valid JSON, no torn or NUL line
        assert len(written) == events
        for level in ("INFO", "ERROR"):
            assert sum(e["level"] == level for e in written) == int(summary[level].replace(",", ""))
        assert not list(tmp_path.glob("*.buffer"))  # written, not left for recovery
