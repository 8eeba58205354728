"""What a reader of live log files sees: every file grows only as a prefix of its final content."""

import random
import threading
import time
import zlib

import support

import fastevlog

LOG_FILE = "app"


class LiveReader:
    """Polls every log file until stopped, as tail -F or a log shipper would.

    Each read is checked for NUL bytes (a hole: later bytes landed before
    earlier ones) and remembered as (name, length, crc32) so that it can be
    compared with the file's final content afterwards.
    """

    def __init__(self, directory) -> None:
        self.directory = directory
        self.stop = threading.Event()
        self.reads = 0
        self.holes = []  # (name, offset of the first NUL, length read)
        self.seen = []  # (name, length, crc32 of what was read)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            # The newest files are the ones being written; rereading the finished ones slows the polls.
            for path in support.log_paths(self.directory, log_file=LOG_FILE)[-3:]:
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    continue
                self.reads += 1
                if not data:
                    continue
                nul = data.find(b"\0")
                if nul >= 0:
                    self.holes.append((path.name, nul, len(data)))
                self.seen.append((path.name, len(data), zlib.crc32(data)))

    def __enter__(self) -> "LiveReader":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the reader did not stop"


def jittery(pwritev, seed: int):
    """pwritev after a random pause of up to 2 ms: writers finish in any order, as on a busy machine."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def write(fd, buffers, offset):
        with lock:
            pause = rng.random() * 0.002
        time.sleep(pause)
        return pwritev(fd, buffers, offset)

    return write


def test_files_grow_as_whole_prefixes_during_a_twenty_thread_run(tmp_path):
    """20 producers, 4 writers, 16 KiB segments, 64 KiB files: a polling reader never sees a hole.

    Every read must be a prefix of the file's final content (a partial last
    line is allowed: the reader may catch a write half way).
    """
    threads, per_thread = 20, 3000
    logger = fastevlog.EventLogCounter(log_file=LOG_FILE, directory=str(tmp_path), num_workers=4,
                                       buffer_bytes=256 * 1024, buffer_size=150,
                                       max_file_size=64 * 1024, flush_interval=0.01)
    logger._scheduler.pool.pwritev = jittery(logger._ring.pwritev, 20261203)
    go = threading.Barrier(threads)

    def produce(t: int) -> None:
        go.wait()
        for i in range(per_thread):
            logger.info("tick", "a line of about a hundred bytes", thread=t, seq=i)

    with LiveReader(tmp_path) as reader:
        producers = [threading.Thread(target=produce, args=(t,)) for t in range(threads)]
        for producer in producers:
            producer.start()
        for producer in producers:
            producer.join()
        logger.stop()
    final = {path.name: path.read_bytes() for path in support.log_paths(tmp_path, log_file=LOG_FILE)}

    assert len(final) > 20, "expected many files"
    assert reader.reads > 100, f"the reader polled only {reader.reads} times"
    assert reader.holes == [], f"{len(reader.holes)} of {reader.reads} reads saw a NUL byte, " \
                               f"e.g. {reader.holes[:3]} (file, first NUL at, bytes read)"
    not_prefix = [(name, length) for name, length, crc in reader.seen
                  if zlib.crc32(final[name][:length]) != crc or len(final[name]) < length]
    assert not_prefix == [], f"{len(not_prefix)} reads were not a prefix of the final file"
    events = support.read_events(tmp_path, log_file=LOG_FILE)
    assert len(events) == threads * per_thread
    for t in range(threads):
        assert [e["seq"] for e in events if e["thread"] == t] == list(range(per_thread))
    assert not list(tmp_path.glob("*.buffer"))
