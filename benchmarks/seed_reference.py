"""The seed's design written in plain Python: the reference competitor of compare.py.

What a user would write by hand for "an asynchronous, buffered, thread-safe event
logger that counts events": log() appends a dict to a list under a lock and counts
it; a flush thread swaps the list out every flush_interval seconds (or as soon as
buffer_size events are pending) and hands the batch to a thread pool that turns
each event into a line with json.dumps and writes the lines, in batch order, to
``{log_file}_{YYYYMMDD_HHMMSS}.log`` files rotated at max_file_size bytes.
"""

import json
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone


class SeedEventLogCounter:
    def __init__(self, log_file="async_buffered_logs", directory=".", buffer_size=1_000_000,
                 flush_interval=1.0, max_file_size=10 * 1024 * 1024, num_workers=4):
        self.log_file, self.directory = log_file, directory
        self.buffer_size, self.flush_interval, self.max_file_size = buffer_size, flush_interval, max_file_size
        os.makedirs(directory, exist_ok=True)
        self.level_counts, self.event_counts = Counter(), Counter()
        self._lock = threading.Lock()          # the buffer, the counts and the batch numbers
        self._buffer = []
        self._batches = 0                      # batches handed to the pool so far
        self._next_to_write = 0                # the batch whose turn it is at the file
        self._turn = threading.Condition()     # the file, its size, rotation and the turns
        self._file, self._file_size = None, 0
        self._pool = ThreadPoolExecutor(max_workers=num_workers)
        self._futures = []
        self._wake, self._stopping = threading.Event(), threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name="seed-flusher", daemon=True)
        self._flusher.start()

    def log(self, level, event_id, message):
        event = {"timestamp": datetime.now(timezone.utc).isoformat(), "level": level,
                 "event_id": event_id, "message": message}
        with self._lock:
            self._buffer.append(event)
            self.level_counts[level] += 1
            self.event_counts[event_id] += 1
            if len(self._buffer) >= self.buffer_size:
                self._wake.set()

    def counts(self):
        with self._lock:
            return {"levels": dict(self.level_counts), "event_ids": dict(self.event_counts)}

    def stop(self):
        """Flush everything, wait for the writers, close the file."""
        self._stopping.set()
        self._wake.set()
        self._flusher.join()
        self._flush()
        self._pool.shutdown(wait=True)
        for future in self._futures:
            future.result()                    # a failed write is raised here
        if self._file is not None:
            self._file.close()

    def _flush_loop(self):
        while not self._stopping.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self._flush()

    def _flush(self):
        with self._lock:
            batch, self._buffer = self._buffer, []
            number, self._batches = self._batches, self._batches + (1 if batch else 0)
        if batch:
            self._futures = [f for f in self._futures if not f.done() or f.exception()]
            self._futures.append(self._pool.submit(self._write_batch, number, batch))

    def _write_batch(self, number, batch):
        lines = [(json.dumps(event) + "\n").encode() for event in batch]   # in parallel with other batches
        with self._turn:
            self._turn.wait_for(lambda: self._next_to_write == number)     # batches reach the file in order
            try:
                self._write_lines(lines)
            finally:
                self._next_to_write += 1
                self._turn.notify_all()

    def _write_lines(self, lines):
        chunk, size = [], self._file_size
        if self._file is None:
            self._open_new_file()
        for line in lines:
            if size and size + len(line) > self.max_file_size:
                self._file.write(b"".join(chunk))
                self._open_new_file()
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        self._file.write(b"".join(chunk))
        self._file.flush()
        self._file_size = size

    def _open_new_file(self):
        if self._file is not None:
            self._file.close()
        stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime())
        base = os.path.join(self.directory, f"{self.log_file}_{stamp}")
        path, n = base + ".log", 0
        while os.path.exists(path):            # two rotations in one second
            n += 1
            path = f"{base}_{n:06d}.log"
        self._file, self._file_size = open(path, "xb"), 0  # noqa: SIM115 (closed at rotation/stop)
