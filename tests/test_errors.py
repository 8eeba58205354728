"""The errors callers catch: the core raises the Python layer's classes, and they survive pickling."""

import pickle

import pytest

import fastevlog
from fastevlog import EventLogCounter, LoggerStoppedError, WriteError, _core


class TestLoggerStoppedError:
    def test_the_core_raises_the_public_class(self, tmp_path):
        """log() and log_many() on a stopped logger raise fastevlog.LoggerStoppedError itself."""
        logger = EventLogCounter(directory=tmp_path)
        logger.stop()
        for call in (lambda: logger.info("e"), lambda: logger.log_many("INFO", ["e"])):
            with pytest.raises(LoggerStoppedError) as raised:
                call()
            assert type(raised.value) is LoggerStoppedError
            assert raised.value.accepted == 0
        assert _core.LoggerStoppedError is LoggerStoppedError

    def test_pickling_keeps_accepted(self):
        """A worker's error reaches its parent with the rows it logged (multiprocessing pickles it)."""
        error = pickle.loads(pickle.dumps(LoggerStoppedError("stopped", 7)))
        assert (type(error), str(error), error.accepted) == (LoggerStoppedError, "stopped", 7)

    def test_is_a_runtime_error(self):
        """Code written against 'this logger is stopped' as a RuntimeError still catches it."""
        assert issubclass(LoggerStoppedError, RuntimeError)


class TestWriteError:
    def test_public_and_an_os_error(self):
        """Both errors are named as users import them, in tracebacks and reprs."""
        assert fastevlog.WriteError is WriteError and issubclass(WriteError, OSError)
        assert f"{WriteError.__module__}.{WriteError.__name__}" == "fastevlog.WriteError"
        stopped = LoggerStoppedError
        assert f"{stopped.__module__}.{stopped.__name__}" == "fastevlog.LoggerStoppedError"
