"""What a shipper is told and what it reports: NatsShipper, the public configuration, and ShipReport.

Kept apart from the shipper itself (_shipper.py), which needs asyncio: ``import fastevlog`` loads this
module, and asyncio only once a logger ships.
"""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

from ._nats import check_host, check_name, split_servers


class NatsShipper:
    """Where to ship a directory's log files: a NATS JetStream stream.

    Args:
        servers: the servers' URLs, a list or one comma-separated string.
        stream: the JetStream stream; created if missing (with replicas,
            duplicate_window, max_bytes and max_age), used as it is otherwise.
        subject: the subject the chunks are published on; the stream must take
            it.  Defaults to fastevlog.{stream}, so that streams never overlap.
        host: this machine's name at the collector (DIR/{host}); give each
            directory shipped to one stream a name of its own.  Defaults to the
            host name.
        stop_timeout: seconds a stopping logger gives the shipper to ship what
            is written; the rest ships at the next start or by ``fastevlog ship``.
        replicas: the stream's replicas when the shipper creates it.
        duplicate_window: seconds the server drops repeated chunk ids in, when
            the shipper creates the stream (the collector does not rely on it).
        max_bytes: the stream's size limit when the shipper creates it (None:
            unlimited).  Old chunks are discarded past it, collected or not.
        max_age: seconds the stream keeps a chunk when the shipper creates it (None: forever).
    """

    def __init__(self, servers: Union[str, Sequence[str]] = "nats://127.0.0.1:4222",
                 stream: str = "FASTEVLOG", subject: Optional[str] = None, host: Optional[str] = None,
                 stop_timeout: float = 5.0,
                 replicas: int = 1, duplicate_window: float = 120.0, max_bytes: Optional[int] = None,
                 max_age: Optional[float] = None) -> None:
        self.servers = split_servers(servers)
        self.stream = check_name(stream, "stream")
        self.subject = _check_subject(f"fastevlog.{stream}" if subject is None else subject)
        self.host = check_host(socket.gethostname().split(".")[0] if host is None else host)
        self.stop_timeout = _check_seconds("stop_timeout", stop_timeout, zero=True)
        if type(replicas) is not int or not 1 <= replicas <= 5:
            raise ValueError(f"replicas must be an int from 1 to 5, not {replicas!r}")
        self.replicas = replicas
        self.duplicate_window = _check_seconds("duplicate_window", duplicate_window)
        if max_bytes is not None and (type(max_bytes) is not int or max_bytes <= 0):
            raise ValueError(f"max_bytes must be a positive int or None, not {max_bytes!r}")
        self.max_bytes = max_bytes
        self.max_age = None if max_age is None else _check_seconds("max_age", max_age)

    def __repr__(self) -> str:
        return (f"NatsShipper(servers={','.join(self.servers)!r}, stream={self.stream!r}, "
                f"subject={self.subject!r}, host={self.host!r})")


def _check_subject(subject: Any) -> str:
    if not isinstance(subject, str):
        raise TypeError(f"subject must be a str, not {type(subject).__name__}")
    tokens = subject.split(".")
    if not subject.isprintable() or any(not token or any(c in token for c in " *>\t") for token in tokens):
        raise ValueError(f"subject must be a NATS subject without wildcards, such as fastevlog.events, "
                         f"not {subject!r}")
    return subject


def _check_seconds(name: str, value: Any, zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        least = "≥ 0" if zero else "> 0"
        raise ValueError(f"{name} must be a finite number of seconds {least}, not {value!r}")
    return float(value)


@dataclass
class ShipReport:
    """What the shipper did so far (the ship_* keys of metrics())."""

    shipped_bytes: int = 0  # acked by the stream
    shipped_events: int = 0  # lines whose last byte was acked
    ship_publish_retries: int = 0
    ship_lag_bytes: int = 0  # written to the files and not yet acked, at the last look
    ship_reconnects: int = 0
