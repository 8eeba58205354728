"""Build of the compiled core, fastevlog._core.

Switches (environment variables, read at build time):
    FASTEVLOG_OPT=-O2      the optimization level (default: CPython's own, -O3 here)
    FASTEVLOG_DEBUG=1      -O0 -g3, asserts on, FASTEVLOG_DEBUG defined: FEVL_CHECK (src/fevl.h) checks invariants
    FASTEVLOG_SANITIZE=1   -fsanitize=address,undefined (run with LD_PRELOAD=$(gcc -print-file-name=libasan.so))
"""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

extra_compile_args = ["-std=c11"]
if os.environ.get("FASTEVLOG_OPT"):
    extra_compile_args.append(os.environ["FASTEVLOG_OPT"])
extra_link_args = []
define_macros = []
if os.environ.get("FASTEVLOG_DEBUG"):
    extra_compile_args += ["-O0", "-g3", "-UNDEBUG"]
    define_macros.append(("FASTEVLOG_DEBUG", "1"))
if os.environ.get("FASTEVLOG_SANITIZE"):
    flags = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]
    extra_compile_args += flags
    extra_link_args += flags

core = Extension(
    "fastevlog._core",
    sources=["src/_core.pyx"],
    include_dirs=["src"],
    define_macros=define_macros,
    extra_compile_args=extra_compile_args,
    extra_link_args=extra_link_args,
)

setup(
    ext_modules=cythonize(
        [core],
        include_path=["src"],
        build_dir="build/cython",  # the generated C stays out of src/, which holds only what is written here
        compiler_directives={
            # The one place for directives beyond each .pyx header.
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
)
