#!/usr/bin/env bash
# Build the core in place as a FASTEVLOG_DEBUG build (-O0, FEVL_CHECK's invariant
# checks compiled in) under -fsanitize=address,undefined, and run the whole test
# suite on it (children inherit the preload). Not part of CI; afterwards rebuild
# normally: pip install -e .
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf build
# Kept set for the run too: tests/test_debug_build.py checks the module is that build.
export FASTEVLOG_DEBUG=1 FASTEVLOG_SANITIZE=1
python -m pip install -q -e ".[test]"
ASAN_SO=$(gcc -print-file-name=libasan.so)
UBSAN_SO=$(gcc -print-file-name=libubsan.so)
# Python's own allocations are not instrumented: leaks there are not ours to judge.
LD_PRELOAD="$ASAN_SO $UBSAN_SO" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  python -m pytest -q -p no:cacheprovider tests "$@"
