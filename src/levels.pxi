# Levels: the five of the stdlib, and the ones add_level() declares, process-wide
# like logging.addLevelName.  A level is known by its index into these tables;
# lines, counts and a logger's minimum use the index, the minimum compares numbers.
#
# Entries are only ever appended, and an index, once handed out, names the same
# level for good: log_many() reads the tables without the GIL.

import re
import sys

cdef enum:
    # PREFIX_BYTES (serializer.pxi) holds '{"timestamp":"…","level":"","event_id":' (65 bytes) and a name.
    LONGEST_LEVEL_NAME = 15

LEVEL_NAMES = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LEVEL_VALUES = (10, 20, 30, 40, 50)

cdef int level_count = 0
cdef int LEVEL_NUMBER[MAX_LEVELS]
cdef const char *LEVEL_INFIX[MAX_LEVELS]          # '","level":"INFO","event_id":' and the like
cdef Py_ssize_t LEVEL_INFIX_LENGTH[MAX_LEVELS]
cdef list LEVEL_INFIXES = []                       # the bytes LEVEL_INFIX points into
cdef list LEVEL_NAME_OF = []                       # by index
_LEVEL_BY_NAME = {}
_LEVEL_BY_NUMBER = {}
_LEVEL_NAME_FORM = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


def add_level(name, number):
    """Declare a level: log(name, ...) and log(number, ...) then log at it, counts() counts it,
    and a logger's ``level=`` may name it.

    name: letters, digits and underscores, starting with a letter, at most 15
    characters, any case (written upper-case); number: a positive int, its place
    among the others (DEBUG 10 … CRITICAL 50).  Declaring the same pair again does
    nothing; a name or number already taken otherwise is a ValueError.
    """
    global level_count
    if not isinstance(name, str):
        raise TypeError(f"add_level(): name must be a str such as 'NOTICE', not {type(name).__name__}")
    if not (_LEVEL_NAME_FORM.match(name) and name.isascii() and len(name) <= LONGEST_LEVEL_NAME):
        raise ValueError(f"add_level(): name must be letters, digits and underscores, starting with a "
                         f"letter, at most {LONGEST_LEVEL_NAME} characters; got {name!r}")
    if isinstance(number, bool) or not isinstance(number, int):
        raise TypeError(f"add_level(): number must be an int such as 25, not {type(number).__name__}")
    if number <= 0:
        raise ValueError(f"add_level(): number must be positive (the stdlib's are 10 to 50), not {number}")
    name = name.upper()
    by_name, by_number = _LEVEL_BY_NAME.get(name), _LEVEL_BY_NUMBER.get(number)
    if by_name is not None and by_name == by_number:
        return  # declared already, the same way
    if by_name is not None:
        raise ValueError(f"add_level(): level {name} exists already, as {LEVEL_NUMBER[by_name]}")
    if by_number is not None:
        raise ValueError(f"add_level(): level number {number} is {LEVEL_NAME_OF[by_number]} already")
    if level_count == MAX_LEVELS:
        raise ValueError(f"add_level(): at most {MAX_LEVELS} levels can be declared")
    infix = ('","level":"' + name + '","event_id":').encode()
    LEVEL_INFIXES.append(infix)
    LEVEL_NAME_OF.append(name)
    LEVEL_INFIX[level_count] = PyBytes_AS_STRING(infix)
    LEVEL_INFIX_LENGTH[level_count] = PyBytes_GET_SIZE(infix)
    LEVEL_NUMBER[level_count] = number
    _LEVEL_BY_NUMBER[number] = level_count
    _LEVEL_BY_NAME[name] = level_count  # last: a name that resolves has its tables filled
    level_count += 1


def levels():
    """{name: number} of every level, in order of number."""
    return dict(sorted(zip(LEVEL_NAME_OF, [LEVEL_NUMBER[i] for i in range(level_count)]),
                       key=lambda item: item[1]))


for _name, _number in zip(LEVEL_NAMES, LEVEL_VALUES):
    add_level(_name, _number)
_LEVEL_BY_NAME["WARN"] = 2   # the stdlib's aliases
_LEVEL_BY_NAME["FATAL"] = 4


cdef bint is_integer(object o) except -1:
    """Whether o is an int or another integer (numpy's: it has __index__), but not a bool, nor
    numpy's (which numpy 1.x and 2.0 still let be an index, with a DeprecationWarning)."""
    return PyIndex_Check(o) and not isinstance(o, (bool, getattr(sys.modules.get("numpy"), "bool_", bool)))


cpdef int level_index(object level) except -1:
    """The index of a level given by name (any case) or number (an int, or any integer
    such as numpy's that is not a bool)."""
    # Literal names are interned, so the common call is one pointer compare.
    if level is "INFO":
        return 1
    if level is "ERROR":
        return 3
    if level is "DEBUG":
        return 0
    if level is "WARNING":
        return 2
    if level is "CRITICAL":
        return 4
    cdef object index = None
    if isinstance(level, str):
        if level.isascii():  # str.upper() would map e.g. a dotless "ı" to "I"
            index = _LEVEL_BY_NAME.get(level.upper())
    elif type(level) is int:  # the stdlib's levelno: spares is_integer's look for numpy
        index = _LEVEL_BY_NUMBER.get(level)
    elif is_integer(level):
        index = _LEVEL_BY_NUMBER.get(PyNumber_Index(level))
    if index is None:
        raise ValueError(f"unknown level {level!r}: the levels are {known_levels()}, by name (any case) "
                         "or number; fastevlog.add_level(name, number) declares another")
    return index


def known_levels():
    """'DEBUG (10), INFO (20), …' for error messages."""
    return ", ".join([f"{name} ({number})" for name, number in levels().items()])
