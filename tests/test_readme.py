"""The README's examples run verbatim, and every file, test and link the docs name exists.

Each ```python block of README.md is run as it is written, as a script in its own process whose
current directory is a fresh tmp_path (the examples write their logs in a directory under the
current one). Blocks that are not meant to run use another fence language (```text, ```console).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Set

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# The documents whose paths and links are checked: the README and the ones it sends readers to.
DOCUMENTS = [README, ROOT / "CONTRIBUTING.md", ROOT / "docs" / "design.md", ROOT / "docs" / "guarantees.md"]
# An example takes about a second; a hung one (a logger never stopped, a deadlock) must still end the test.
EXAMPLE_TIMEOUT = 120

# The README's own commands that must not drift: .ci/run runs the test command as written here.
TEST_COMMAND = 'pip install ".[test]" && pytest'
FRESH_MACHINE_COMMAND = 'pip install ".[cli]" && fastevlog simulate'


class CodeBlock(NamedTuple):
    language: str  # the fence's info string up to the first space, lower-cased; "" when none
    line: int  # 1-based line of the opening fence
    heading: str  # the nearest heading above it, for the test's id
    text: str


# An opening fence; a backtick fence's info string holds no backtick (```` ```text ```` is inline code).
_FENCE = re.compile(r"^(?P<indent> {0,3})(?:(?P<fence>`{3,})(?=[^`]*$)|(?P<tildes>~{3,}))\s*(?P<info>\S*)")
_HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$")


def code_blocks(markdown: str) -> List[CodeBlock]:
    """Every fenced code block of a CommonMark document, in order.

    A block closes at a line of the same fence character, at least as long as the
    opening fence and with nothing else on it; the opening fence's indentation is
    taken off the block's lines, as CommonMark does.
    """
    blocks: List[CodeBlock] = []
    heading = ""
    opening: Optional[re.Match[str]] = None
    start = 0
    body: List[str] = []
    for number, line in enumerate(markdown.splitlines(), 1):
        if opening is None:
            opening = _FENCE.match(line)
            if opening is not None:
                start, body = number, []
            elif (title := _HEADING.match(line)) is not None:
                heading = title.group("title")
            continue
        fence = opening.group("fence") or opening.group("tildes")
        closing = line.strip()
        if len(closing) >= len(fence) and closing == fence[0] * len(closing) and len(line) - len(
                line.lstrip(" ")) <= 3:
            indent = len(opening.group("indent"))
            text = "".join(
                (row[indent:] if row[:indent].strip() == "" else row.lstrip(" ")) + "\n" for row in body)
            blocks.append(CodeBlock(opening.group("info").lower(), start, heading, text))
            opening = None
        else:
            body.append(line)
    if opening is not None:
        raise ValueError(f"the code block opened at line {start} is never closed")
    return blocks


def run_example(block: CodeBlock, directory: Path) -> subprocess.CompletedProcess[str]:
    """Run a block's text unchanged as a script, with directory as the current directory."""
    script = directory / f"readme_line_{block.line}.py"
    script.write_text(block.text, encoding="utf-8")
    return subprocess.run([sys.executable, script.name], cwd=directory, capture_output=True, text=True,
                          timeout=EXAMPLE_TIMEOUT)


def _example_id(block: CodeBlock) -> str:
    return re.sub(r"[^a-z0-9]+", "-", block.heading.lower()).strip("-") + f"-line{block.line}"


README_BLOCKS = code_blocks(README.read_text(encoding="utf-8"))
README_EXAMPLES = [block for block in README_BLOCKS if block.language == "python"]


@pytest.mark.parametrize("example", README_EXAMPLES, ids=_example_id)
def test_readme_example_runs(example: CodeBlock, tmp_path: Path) -> None:
    """Each ```python block of the README runs verbatim and logs under a directory of its own."""
    result = run_example(example, tmp_path)
    assert result.returncode == 0, (
        f"README.md's example at line {example.line} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}")
    # The examples keep their logs out of the reader's current directory: they name one under it.
    assert not list(tmp_path.glob("*.log")), "the example logged into the current directory itself"
    assert list(tmp_path.glob("*/*.log")), "the example wrote no log file under the current directory"


class TestReadmeCommands:
    """The commands the README must keep as they are."""

    def test_fresh_machine_commands_come_first(self) -> None:
        """The two fresh-machine commands are the first code blocks, as shell commands."""
        assert [(block.language, block.text) for block in README_BLOCKS[:2]] == [
            ("sh", FRESH_MACHINE_COMMAND + "\n"), ("sh", TEST_COMMAND + "\n")]

    def test_ci_runs_the_readme_test_command(self) -> None:
        """.ci/run runs the README's test command exactly."""
        assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()

    def test_simulate_says_where_it_writes(self) -> None:
        """Beside the simulate command: how much it writes, and --dir."""
        top = README.read_text(encoding="utf-8").split("## Install")[0]
        assert "1.2 GB" in top and "fastevlog simulate --dir" in top

    def test_readme_has_examples(self) -> None:
        """The runner found the examples (an empty parametrization would pass silently)."""
        assert len(README_EXAMPLES) >= 5


class TestRunner:
    """The extraction and the runner themselves."""

    def test_blocks_are_found_with_their_language_and_line(self) -> None:
        """Fences of every kind are found; their text is kept as written."""
        markdown = (
            "# Title\n"
            "```python\n"
            "print('a')\n"
            "\n"
            "  x = 1\n"
            "```\n"
            "## Output\n"
            "```text\n"
            "not python\n"
            "```\n"
            "````python\n"
            "```\n"
            "````\n"
            "- item\n"
            "  ```python\n"
            "  if True:\n"
            "      pass\n"
            "  ```\n"
            "~~~ Python extra\n"
            "y = 2\n"
            "~~~\n"
            "```` ```python ```` is inline code, not a fence\n")
        assert code_blocks(markdown) == [
            CodeBlock("python", 2, "Title", "print('a')\n\n  x = 1\n"),
            CodeBlock("text", 8, "Output", "not python\n"),
            CodeBlock("python", 11, "Output", "```\n"),
            CodeBlock("python", 15, "Output", "if True:\n    pass\n"),
            CodeBlock("python", 19, "Output", "y = 2\n"),
        ]

    def test_an_unclosed_block_is_an_error(self) -> None:
        """A block left open would silently swallow the rest of the README."""
        with pytest.raises(ValueError, match="line 2"):
            code_blocks("text\n```python\nprint(1)\n")

    def test_a_failing_example_fails(self, tmp_path: Path) -> None:
        """An example's exit status and output come back; it runs in the directory given."""
        script = "import sys\nopen('here', 'w').close()\nprint('out')\nsys.exit(3)\n"
        block = CodeBlock("python", 7, "", script)
        result = run_example(block, tmp_path)
        assert (result.returncode, result.stdout) == (3, "out\n")
        assert (tmp_path / "here").exists()

    def test_an_example_raising_fails(self, tmp_path: Path) -> None:
        """An uncaught exception is a non-zero exit with its traceback."""
        result = run_example(CodeBlock("python", 1, "", "raise ValueError('boom')\n"), tmp_path)
        assert result.returncode != 0 and "ValueError: boom" in result.stderr


# A path the docs name: under one of the repository's top folders, up to a character that cannot
# continue a path; `::Name` after it (or alone, meaning the last path named on the line) names a
# test class or function in it. Globs and templates ({log_file}, _core*.so) are not paths.
_PATH = re.compile(
    r"(?<![\w./-])(?P<path>(?:\.ci|benchmarks|docs|fastevlog|src|tests)/[\w./-]*)(?![\w*{])(?:::(?P<name>\w+))?"
    r"|(?<![\w:])::(?P<bare>\w+)")
_LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def _anchors(markdown: str) -> Set[str]:
    """GitHub's anchors for a document's headings: lower case, punctuation dropped, spaces to -."""
    anchors = set()
    for block_free_line in _outside_code(markdown):
        heading = _HEADING.match(block_free_line)
        if heading:
            title = heading.group("title").replace("`", "")
            anchors.add(re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-"))
    return anchors


def _outside_code(markdown: str) -> List[str]:
    inside, lines = False, []
    for line in markdown.splitlines():
        if _FENCE.match(line):
            inside = not inside
        elif not inside:
            lines.append(line)
    return lines


def _named_paths(document: Path) -> Dict[str, Set[str]]:
    """{path: names of tests in it} for every path a document names (its code blocks included)."""
    named: Dict[str, Set[str]] = {}
    for line in document.read_text(encoding="utf-8").splitlines():
        last = None
        for found in _PATH.finditer(line):
            if found.group("path"):
                last = found.group("path").rstrip(".")
                named.setdefault(last, set())
            name = found.group("name") or found.group("bare")
            if name:
                assert last is not None, f"{document.name}: '::{name}' with no file before it: {line}"
                named[last].add(name)
    return named


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
class TestDocuments:
    """What the docs point at is there."""

    def test_named_files_and_tests_exist(self, document: Path) -> None:
        """Every repository path named exists, and every Test class or function named is in its file."""
        missing = []
        for path, names in _named_paths(document).items():
            target = ROOT / path
            if not target.exists():
                missing.append(path)
                continue
            text = target.read_text(encoding="utf-8") if target.is_file() else ""
            missing += [f"{path}::{name}" for name in names
                        if not re.search(rf"^\s*(?:class|def)\s+{name}\b", text, re.MULTILINE)]
        assert not missing

    def test_links_resolve(self, document: Path) -> None:
        """Every relative link leads to a file, and its #anchor to a heading there."""
        broken = []
        for line in _outside_code(document.read_text(encoding="utf-8")):
            for link in _LINK.finditer(line):
                target = link.group("target")
                if re.match(r"[a-z]+:", target):
                    continue  # an absolute URL: not checked offline
                path, _, anchor = target.partition("#")
                linked = (document.parent / path).resolve() if path else document
                if not linked.exists():
                    broken.append(target)
                    continue
                if anchor and anchor not in _anchors(linked.read_text(encoding="utf-8")):
                    broken.append(target)
        assert not broken
