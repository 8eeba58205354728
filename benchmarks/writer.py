"""The writer side: 1 GiB of buffered lines through the writer pool against a plain os.write loop.

Both write the same bytes (real JSON lines, in 1 MiB sealed segments) to new
files in one temporary directory, page cache only (no fsync), in alternating
rounds; the pool side includes placing every segment in size-rotated files
(10 MiB) and the bookkeeping of each write.

    python benchmarks/writer.py [--gib 1] [--rounds 3] [--workers 4]
"""

import argparse
import os
import shutil
import statistics
import tempfile
import threading
import time

from fastevlog._directory import LogDirectory
from fastevlog._rotation import LogFiles
from fastevlog._writer import Piece, WriterPool

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


def writer_pool(directory: str, data: bytes, segments: int, workers: int) -> float:
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

    pool = WriterPool(workers, 3, written)
    view = memoryview(data)
    start = time.perf_counter()
    pool.start()
    for _ in range(segments):
        placements = files.place(data, 0, len(data))
        chunk = [len(placements)]
        for file, offset, piece_start, piece_end in placements:
            pool.submit(Piece(chunk, file, offset, view, piece_start, piece_end, 0))
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
    args = parser.parse_args()
    data = segment_of_lines()
    segments = int(args.gib * 1024 * 1024 * 1024 // len(data))
    plain, pool = [], []
    for _ in range(args.rounds):
        for runs, run in ((plain, lambda d: plain_loop(d, data, segments)),
                          (pool, lambda d: writer_pool(d, data, segments, args.workers))):
            directory = tempfile.mkdtemp(prefix="fastevlog-writer-")
            try:
                runs.append(run(directory))
            finally:
                shutil.rmtree(directory, ignore_errors=True)
    total = segments * len(data) / 2**20
    plain_s, pool_s = statistics.median(plain), statistics.median(pool)
    print(f"bytes        {total:,.0f} MiB in {segments} segments, median of {args.rounds} alternating rounds")
    print(f"os.write     {plain_s:.2f} s  ({total / plain_s:,.0f} MiB/s)")
    print(f"writer pool  {pool_s:.2f} s  ({total / pool_s:,.0f} MiB/s), {args.workers} workers, 10 MiB files")
    print(f"ratio        {pool_s / plain_s:.2f}x the os.write loop")


if __name__ == "__main__":
    main()
