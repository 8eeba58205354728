#!/usr/bin/env bash
# Build the core with -fsanitize=address,undefined in place and run the threaded,
# crash, fork and hostile-input tests under it (children inherit the preload).
# Not part of CI (about a minute); afterwards rebuild normally: pip install -e .
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf build
FASTEVLOG_SANITIZE=1 python -m pip install -q --no-build-isolation -e ".[test]"
ASAN_SO=$(gcc -print-file-name=libasan.so)
UBSAN_SO=$(gcc -print-file-name=libubsan.so)
# Python's own allocations are not instrumented: leaks there are not ours to judge.
LD_PRELOAD="$ASAN_SO $UBSAN_SO" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  python -m pytest -q -p no:cacheprovider tests/test_serializer.py tests/test_batch.py tests/test_logger.py \
    tests/test_fork.py tests/test_crash.py tests/test_writer.py tests/test_recovery.py tests/test_processes.py \
    tests/test_hostile_directory.py tests/test_recovery_races.py
