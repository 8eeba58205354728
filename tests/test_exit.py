"""Every way a process ends: events whose log() returned are in the files exactly once."""

import signal
import struct
import subprocess
import sys
import time

import pytest
from support import child_env, read_events

from fastevlog import EventLogCounter

THREADS = 4

# Daemon threads log seq 0, 1, ... on the default logger and on a second, never
# stopped one, and store the last seq whose log() calls returned, one slot per
# thread; the main thread then ends the process as argv[3] says.
CHILD = """
import mmap, os, signal, struct, sys, threading, time
import fastevlog
directory, ack_path, how = sys.argv[1], sys.argv[2], sys.argv[3]
ack = mmap.mmap(os.open(ack_path, os.O_RDWR), 8 * THREADS)
fastevlog.configure(directory=directory, log_file="default", flush_interval=3600,
                    install_signal_handlers=(how == "sigterm"))
other = fastevlog.EventLogCounter(directory=directory, log_file="other", flush_interval=3600)

def produce(t):
    seq = 0
    while True:
        fastevlog.log("INFO", "e", thread=t, seq=seq)
        other.info("e", thread=t, seq=seq)
        ack[8 * t:8 * t + 8] = struct.pack("q", seq)  # whole: pack_into zero-fills first
        seq += 1

for t in range(THREADS):
    threading.Thread(target=produce, args=(t,), daemon=True).start()
while min(struct.unpack_from("q", ack, 8 * t)[0] for t in range(THREADS)) < 2000:
    time.sleep(0.001)
print("ready", flush=True)
if how == "exit":
    sys.exit(0)
if how == "exception":
    raise RuntimeError("uncaught")
if how == "keyboard_interrupt":
    # A shell's background job starts with SIGINT ignored, and Python then keeps it so.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.kill(os.getpid(), signal.SIGINT)
if how == "os_exit":
    os._exit(3)
time.sleep(60)  # "sigterm": the parent sends it
""".replace("THREADS", str(THREADS))

EXIT_CODES = {"exit": 0, "exception": 1, "keyboard_interrupt": -signal.SIGINT, "sigterm": -signal.SIGTERM,
              "os_exit": 3}


@pytest.mark.parametrize("how", list(EXIT_CODES))
def test_exit_path(tmp_path, how):
    """Acknowledged events survive the exit path (os._exit through recovery), none twice."""
    ack_path = tmp_path / "ack"
    ack_path.write_bytes(struct.pack(f"{THREADS}q", *[-1] * THREADS))
    logs = tmp_path / "logs"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(logs), str(ack_path), how],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=child_env())
    assert child.stdout.readline() == b"ready\n"
    if how == "sigterm":
        time.sleep(0.05)
        child.send_signal(signal.SIGTERM)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == EXIT_CODES[how], stderr.decode()[-2000:]
    acknowledged = struct.unpack(f"{THREADS}q", ack_path.read_bytes())
    left_behind = list(logs.glob("*.buffer"))
    if how == "os_exit":
        assert left_behind  # no exit handler ran: the crash path
        for log_file in ("default", "other"):
            EventLogCounter(directory=logs, log_file=log_file).stop()
    else:
        assert not left_behind
    for log_file in ("default", "other"):
        seen = {}
        for event in read_events(logs, log_file):
            seen.setdefault(event["thread"], []).append(event["seq"])
        for t in range(THREADS):
            assert seen[t][:acknowledged[t] + 1] == list(range(acknowledged[t] + 1)), (log_file, t)
            assert len(seen[t]) <= acknowledged[t] + 2  # plus the call running at the end


def test_signal_handlers_need_the_main_thread(tmp_path):
    """install_signal_handlers=True from another thread is a clear ValueError."""
    import threading

    errors = []

    def build():
        try:
            EventLogCounter(directory=tmp_path, install_signal_handlers=True).stop()
        except ValueError as error:
            errors.append(str(error))

    thread = threading.Thread(target=build)
    thread.start()
    thread.join()
    assert errors and "main thread" in errors[0]
