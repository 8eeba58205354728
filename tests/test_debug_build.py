"""The FASTEVLOG_DEBUG build is what it says: unoptimized, with FEVL_CHECK's invariant checks compiled in.

The build is read back from the compiled module itself (GCC records its options and, at -g3, every
macro definition in the debug information), so a setup.py that stops passing a flag fails here.
tests/sanitize.sh builds with FASTEVLOG_DEBUG=1 and runs the suite with it still set.
"""

import os
import re
import shlex
import shutil
import subprocess
import sysconfig
from pathlib import Path
from typing import List, Optional

import pytest

from fastevlog import _core

FEVL_H = Path(__file__).resolve().parents[1] / "src" / "fevl.h"

# None until the core says which build it is (then the build's own word decides what is checked).
DEBUG_BUILD: Optional[bool] = getattr(_core, "DEBUG_BUILD", None)

# What the tests expect of the module: a debug build when the core says so, or, while it does not
# say, when FASTEVLOG_DEBUG is set (the build reads it; tests/sanitize.sh keeps it set for the run).
EXPECT_DEBUG = DEBUG_BUILD if DEBUG_BUILD is not None else bool(os.environ.get("FASTEVLOG_DEBUG"))


def _compiled_module() -> bytes:
    return Path(_core.__file__).read_bytes()


def _compiler_options(module: bytes) -> Optional[List[str]]:
    """GCC's options for the module (its DW_AT_producer string), or None without GCC debug info."""
    producer = re.search(rb"GNU C[0-9]* [0-9][0-9.]* ([^\0]*)", module)
    return producer.group(1).decode().split() if producer else None


def _defines_fastevlog_debug(module: bytes) -> bool:
    """Whether the module's macro information (-g3) holds the definition FASTEVLOG_DEBUG 1."""
    return b"\0FASTEVLOG_DEBUG 1\0" in module


class TestDebugBuild:
    @pytest.mark.skipif(DEBUG_BUILD is None, reason="the core has no DEBUG_BUILD constant yet")
    def test_debug_build_constant_matches_the_compiled_code(self):
        """_core.DEBUG_BUILD is True exactly when the C code was compiled with FASTEVLOG_DEBUG."""
        compiled_with_it = _defines_fastevlog_debug(_compiled_module())
        assert DEBUG_BUILD is compiled_with_it, f"FASTEVLOG_DEBUG defined: {compiled_with_it}"

    @pytest.mark.skipif(not EXPECT_DEBUG, reason="not a FASTEVLOG_DEBUG build")
    def test_debug_build_is_unoptimized_with_checks_compiled_in(self):
        """-O0 (the last -O wins over CPython's -O3), -g3, and FASTEVLOG_DEBUG defined for fevl.h."""
        module = _compiled_module()
        options = _compiler_options(module)
        if options is None:
            pytest.skip("no GCC producer string in the module (another compiler, or stripped)")
        assert [o for o in options if re.fullmatch(r"-O\w*", o)][-1:] == ["-O0"], options
        assert "-g3" in options, options
        defined = _defines_fastevlog_debug(module)
        assert defined, "FASTEVLOG_DEBUG is not defined in the debug build"


# A check that holds (its side effect shows whether the condition was evaluated), then one
# that fails when the program gets an argument.
CHECKS = r"""
#include "fevl.h"
int main(int argc, char **argv) {
    int evaluated = 0;
    (void) argv;
    FEVL_CHECK((evaluated = 1) == 1, "a check that holds");
    printf("evaluated %d\n", evaluated);
    fflush(stdout);
    FEVL_CHECK(argc < 2, "argc < 2");
    puts("carried on");
    return 0;
}
"""


def _compiler() -> List[str]:
    compiler = shlex.split(sysconfig.get_config_var("CC") or "cc")
    if shutil.which(compiler[0]) is None:
        pytest.skip(f"no C compiler ({compiler[0]})")
    if not FEVL_H.exists():
        pytest.skip(f"{FEVL_H} is not here (tests run from an installed copy)")
    return compiler


def _build_checks(tmp_path: Path, *defines: str) -> Path:
    source, program = tmp_path / "checks.c", tmp_path / "checks"
    source.write_text(CHECKS)
    subprocess.run([*_compiler(), "-std=c11", "-Wall", "-Werror", *defines, f"-I{FEVL_H.parent}",
                    f"-I{sysconfig.get_paths()['include']}", str(source), "-o", str(program)],
                   check=True, env=_without_preload())
    return program


def _without_preload() -> dict:
    # tests/sanitize.sh preloads ASan for Python; the compiler and this plain C program need none.
    return {name: value for name, value in os.environ.items() if name != "LD_PRELOAD"}


def _run(program: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(program), *args], capture_output=True, text=True, timeout=60,
                          env=_without_preload())


class TestFevlCheck:
    def test_debug_build_aborts_naming_the_invariant(self, tmp_path):
        """With FASTEVLOG_DEBUG a failed check prints 'fastevlog: invariant failed: <what>' and aborts."""
        program = _build_checks(tmp_path, "-DFASTEVLOG_DEBUG=1")
        holds = _run(program)
        assert (holds.returncode, holds.stdout, holds.stderr) == (0, "evaluated 1\ncarried on\n", "")
        fails = _run(program, "an argument")
        assert fails.returncode == -6, fails  # SIGABRT
        assert fails.stdout == "evaluated 1\n"
        assert fails.stderr == "fastevlog: invariant failed: argc < 2\n"

    def test_other_builds_neither_evaluate_nor_abort(self, tmp_path):
        """Without FASTEVLOG_DEBUG a check costs nothing: its condition is not even evaluated."""
        program = _build_checks(tmp_path)
        result = _run(program, "an argument")
        assert (result.returncode, result.stdout, result.stderr) == (0, "evaluated 0\ncarried on\n", "")
