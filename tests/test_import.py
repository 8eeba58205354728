"""import fastevlog where its compiled core is missing: an ImportError that says what to do."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import fastevlog

_REPORT = textwrap.dedent("""
    import json
    try:
        import fastevlog
    except ImportError as error:
        cause = error.__cause__
        print(json.dumps([str(error), type(cause).__name__, getattr(cause, "name", None)]))
""")


def _import_uncompiled(tmp_path: Path):
    """Import a copy of fastevlog/ without its compiled module, from its parent directory as the working
    directory; [message, cause's type, cause's module name]."""
    package = Path(fastevlog.__file__).parent
    shutil.copytree(package, tmp_path / "fastevlog", ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    # -S: no site-packages, whose editable-install finder would find the built core all the same;
    # -E: no PYTHONPATH.  The working directory comes first on sys.path, as in a checkout.
    done = subprocess.run([sys.executable, "-S", "-E", "-c", _REPORT], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_in_a_source_tree(tmp_path):
    """Run from a checkout after `pip install .`: build in place, or run from elsewhere."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "_core.pyx").write_text("")
    message, cause, name = _import_uncompiled(tmp_path)
    assert (cause, name) == ("ModuleNotFoundError", "fastevlog._core")
    assert f"source tree {tmp_path}" in message
    assert "-m pip install -e ." in message
    assert "run Python from another directory" in message


def test_installed_without_its_core(tmp_path):
    """An installed package missing its core: reinstall with this Python."""
    message, cause, name = _import_uncompiled(tmp_path)
    assert (cause, name) == ("ModuleNotFoundError", "fastevlog._core")
    assert f"{sys.executable} -m pip install --force-reinstall fastevlog" in message


def test_another_missing_module_keeps_its_error(tmp_path):
    """Only the core's absence is explained: another missing module raises as it is."""
    package = Path(fastevlog.__file__).parent
    shutil.copytree(package, tmp_path / "fastevlog", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "fastevlog" / "_errors.py").unlink()
    done = subprocess.run([sys.executable, "-S", "-E", "-c", "import fastevlog"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert "No module named 'fastevlog._errors'" in done.stderr
    assert "compiled core" not in done.stderr


def test_shipping_costs_nothing_until_used(tmp_path):
    """import fastevlog (and its command line) loads neither asyncio nor nats-py: only shipping does."""
    from support import child_env

    code = "import sys, fastevlog, fastevlog.cli; print(sorted({'asyncio', 'nats'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=child_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"
