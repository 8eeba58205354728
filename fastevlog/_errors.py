"""The errors fastevlog raises to the code that logs."""

from __future__ import annotations


class LoggerStoppedError(RuntimeError):
    """The logger was stopped while log() or log_many() ran (waiting for room, or between chunks).

    Attributes:
        accepted: rows of the interrupted call that were logged: written to the
            buffer (so to the files, by stop()) and counted in counts() and
            metrics()["events_logged"].  They are the call's first rows at or
            above the logger's level; none of the others was logged, so a retry
            passes only the rows after them.  Always 0 for log().
    """

    __module__ = "fastevlog"

    def __init__(self, message: str, accepted: int = 0) -> None:
        super().__init__(message)
        self.accepted = accepted

    def __reduce__(self):  # keeps accepted across pickling (multiprocessing)
        return type(self), (str(self), self.accepted)


class WriteError(OSError):
    """Events could not be written after every retry; they are kept and retried later."""

    __module__ = "fastevlog"
