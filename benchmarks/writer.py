"""The writer side: 1 GiB of buffered lines through the writer pool against a plain os.write loop.

Both write the same bytes (real JSON lines, in 1 MiB sealed segments) to new
files in one temporary directory, page cache only (no fsync), in alternating
rounds; the pool side includes placing every segment in size-rotated files
(10 MiB) and the bookkeeping of each write.

    python benchmarks/writer.py [--gib 1] [--rounds 3] [--workers 4] [--against FILE]

--against runs a second pool, from another version of fastevlog/_writer.py
(e.g. ``git show main:fastevlog/_writer.py > /tmp/writer_main.py``), in the
same alternating rounds, so the two compare side by side on one machine.
"""

import argparse
import importlib.util
import os
import shutil
import statistics
import tempfile
import threading
import time

from fastevlog import _writer
from fastevlog._directory import LogDirectory
from fastevlog._rotation import LogFiles

SEGMENT = 1024 * 1024


def segment_of_lines() -> bytes:
    """1 MiB (less a partial line) of lines like the ones log() writes."""
    line = (b'{"timestamp":"2026-11-28T16:03:05.123456Z","level":"INFO","event_id":"event_7",'
            b'"message":"Event event_7 occurred."}\n')
    return line * (SEGMENT // len(line))


def plain_loop(directory: str, data: bytes, segments: int) -> float:
    start = time.perf_counter()
    fd = os.open(os.path.join(directory, "plain.log"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    for _ in range(segments):
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    os.close(fd)
    return time.perf_counter() - start


def load_writer_module(path: str):
    """Another version of fastevlog/_writer.py, importing this fastevlog's other modules."""
    spec = importlib.util.spec_from_file_location("fastevlog._writer_against", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def writer_pool(directory: str, data: bytes, segments: int, workers: int, writer=_writer) -> float:
    files = LogFiles(LogDirectory(directory, 0o640), "pool", 10 * 1024 * 1024, None, 0o640, time.time)
    left = [segments]
    done = threading.Condition()

    def written(piece, ok, retries, failures):
        assert ok
        files.piece_done(piece.file)
        with done:
            piece.chunk[0] -= 1
            if piece.chunk[0] == 0:
                left[0] -= 1
                done.notify()

    pool = writer.WriterPool(workers, 3, written)
    view = memoryview(data)
    start = time.perf_counter()
    pool.start()
    for _ in range(segments):
        placements = files.place(data, 0, len(data))
        chunk = [len(placements)]
        for file, offset, piece_start, piece_end in placements:
            pool.submit(writer.Piece(chunk, file, offset, view, piece_start, piece_end, 0))
    with done:
        done.wait_for(lambda: left[0] == 0)
    files.close()
    pool.stop()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--against", metavar="FILE", help="another version of fastevlog/_writer.py")
    args = parser.parse_args()
    data = segment_of_lines()
    segments = int(args.gib * 1024 * 1024 * 1024 // len(data))
    plain: list = []
    pool: list = []
    other: list = []
    sides = [(plain, lambda d: plain_loop(d, data, segments)),
             (pool, lambda d: writer_pool(d, data, segments, args.workers))]
    if args.against:
        against = load_writer_module(args.against)
        sides.append((other, lambda d: writer_pool(d, data, segments, args.workers, against)))
    for round_ in range(args.rounds):
        # Which side runs after which matters on a disk (the last one's dirty pages
        # are still being written back): the pools swap places every round, and
        # every run starts with nothing dirty.
        for runs, run in sides[:1] + (sides[1:] if round_ % 2 == 0 else sides[:0:-1]):
            directory = tempfile.mkdtemp(prefix="fastevlog-writer-")
            try:
                os.sync()
                runs.append(run(directory))
            finally:
                shutil.rmtree(directory, ignore_errors=True)
    total = segments * len(data) / 2**20
    plain_s, pool_s = statistics.median(plain), statistics.median(pool)
    print(f"bytes        {total:,.0f} MiB in {segments} segments, median of {args.rounds} alternating rounds")
    print(f"os.write     {plain_s:.2f} s  ({total / plain_s:,.0f} MiB/s)")
    print(f"writer pool  {pool_s:.2f} s  ({total / pool_s:,.0f} MiB/s), {args.workers} workers, 10 MiB files")
    print(f"ratio        {pool_s / plain_s:.2f}x the os.write loop")
    if args.against:
        other_s = statistics.median(other)
        print(f"--against    {other_s:.2f} s  ({total / other_s:,.0f} MiB/s): this pool takes "
              f"{pool_s / other_s:.2f}x its time")


if __name__ == "__main__":
    main()
