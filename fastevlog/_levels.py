"""Levels of other logging libraries (stdlib logging, loguru) as fastevlog levels.

A record at a number fastevlog does not know yet (loguru's SUCCESS 25, a level
given to logging.addLevelName) is declared with fastevlog.add_level under the
record's own level name, so that it is written and counted as that library
calls it, instead of failing or being folded into a neighbour.
"""

from __future__ import annotations

import re
from typing import Set

from . import _core

# Every number the core knows: a set lookup on the hot path of the Handler and the sinks.
known_numbers: Set[int] = set(_core.levels().values())

_NAME_FORM = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,14}\Z")


def declare(number: int, name: object) -> int:
    """number, after declaring it as a level named name (or LEVEL_<number>) if fastevlog lacks it.

    Raises ValueError when it cannot be declared: a number ≤ 0, a name that
    fastevlog has under another number, or no room for another level.
    """
    if number in known_numbers:
        return number
    known_numbers.update(_core.levels().values())  # add_level() may have been called directly
    if number in known_numbers:
        return number
    # The stdlib's name for a level it has no name for is "Level 25": that one becomes LEVEL_25.
    label = name if isinstance(name, str) and name.isascii() and _NAME_FORM.match(name) else f"LEVEL_{number}"
    try:
        _core.add_level(label, number)
    except ValueError as error:
        raise ValueError(f"level {number} ({name}) cannot be written: {error}. Declare it at start with "
                         f"fastevlog.add_level(NAME, {number}), NAME a level name fastevlog does not have "
                         "yet") from None
    known_numbers.add(number)
    return number
