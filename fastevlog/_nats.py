"""What the shipper and the collector share: the nats-py client, connecting, and the chunks' wire format.

A chunk is one JetStream message: the bytes [start, end) of one log file of
one host, named by headers.  Its Nats-Msg-Id names that byte range, so a
chunk published again after a crash carries the same id and the server's
duplicate window drops it; the collector does not rely on that window: it
writes each chunk at its offset, so a duplicate only rewrites the same bytes.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Union

_log = logging.getLogger("fastevlog")

# Bytes of a message left for its headers: the server counts them toward max_payload, nats-py checks only the
# payload, and a message over the limit closes the connection for good.  The headers take under 700 bytes.
HEADROOM = 4096

HOST_HEADER = "Fastevlog-Host"
FILE_HEADER = "Fastevlog-File"
OFFSET_HEADER = "Fastevlog-Offset"
ID_HEADER = "Nats-Msg-Id"

MAX_OFFSET = 2 ** 48  # 256 TiB: no log file is larger; a bigger offset is a forged message's
_HOST = re.compile(r"[A-Za-z0-9._-]{1,128}")
# A plain log file's name, as the loggers make them (compressed forms are never shipped).
_FILE = re.compile(r"[^/\x00]{1,251}_[0-9]{8}_[0-9]{6}(?:_[0-9]{6,8})?(?:_recovered_[0-9]+)?\.log")
_SCHEMES = ("nats://", "tls://", "ws://", "wss://")

# Reconnecting: nats-py's default gives up after 60 attempts (about 2 minutes); we never give up.
_RECONNECT_WAIT = 0.5
_STOP_POLL = 0.1  # seconds between looks at stopping() while connecting


def import_nats() -> Any:
    """The nats package (nats-py), or an ImportError that names the extra to install."""
    try:
        import nats
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith("nats"):
            raise
        raise ImportError("shipping and collecting need nats-py, which fastevlog's extra installs: "
                          "pip install 'fastevlog[nats]'", name=error.name) from error
    return nats


def split_servers(servers: Union[str, Sequence[str]], name: str = "servers") -> List[str]:
    """The server URLs, from a list or a comma-separated string (nats-py does not split one)."""
    if isinstance(servers, str):
        urls = [url.strip() for url in servers.split(",")]
    elif isinstance(servers, (list, tuple)) and all(isinstance(url, str) for url in servers):
        urls = [url.strip() for url in servers]
    else:
        raise TypeError(f"{name} must be a URL string or a list of them, not {type(servers).__name__}")
    if not urls or any(not url for url in urls):
        raise ValueError(f"{name} must name at least one server, e.g. nats://127.0.0.1:4222, not {servers!r}")
    for url in urls:
        if not url.startswith(_SCHEMES) or url.partition("://")[2] == "":
            raise ValueError(f"{name}: {url!r} is not a NATS server URL; write it as nats://HOST:PORT")
    return urls


def check_host(host: Any, name: str = "host") -> str:
    """A host name that is one safe path component: the collector mirrors each host under DIR/{host}."""
    if not isinstance(host, str):
        raise TypeError(f"{name} must be a str, not {type(host).__name__}")
    if not _HOST.fullmatch(host) or host in (".", ".."):
        raise ValueError(f"{name} must be 1 to 128 letters, digits, '.', '_' or '-' (not '.' or '..'), "
                         f"not {host!r}: it names the host's directory at the collector")
    return host


def check_name(value: Any, name: str) -> str:
    """A JetStream stream's or consumer's name: the server refuses spaces, '.', '*', '>', slashes in one."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value or len(value) > 200 or not value.isprintable() or any(c in value for c in " .*>/\\"):
        raise ValueError(f"{name} must be a JetStream name: 1 to 200 printable characters without spaces, "
                         f"'.', '*', '>' or slashes, not {value!r}")
    return value


async def connect(servers: List[str], *, name: str, on_reconnect: Callable[[], None],
                  stopping: Callable[[], bool]) -> Any:
    """A client connected to one of servers, reconnecting forever; None if stopping() came first.

    With no limit on attempts nats-py also retries the first connection
    forever: a shipper started while the servers are down waits for them.
    """
    import asyncio  # here: ``import fastevlog`` loads this module, and asyncio only once one connects

    nats = import_nats()

    async def reconnected() -> None:
        on_reconnect()

    async def error(failure: Exception) -> None:
        _log.debug("nats: %s: %s", type(failure).__name__, failure)

    connecting = asyncio.ensure_future(nats.connect(
        servers=servers, name=name, reconnected_cb=reconnected, error_cb=error, max_reconnect_attempts=-1,
        reconnect_time_wait=_RECONNECT_WAIT, connect_timeout=2))
    while not connecting.done():
        if stopping():
            connecting.cancel()
            try:
                await connecting
            except BaseException:  # cancelled, or failed meanwhile: either way we stop
                pass
            return None
        await asyncio.wait([connecting], timeout=_STOP_POLL)
    return connecting.result()


def chunk_headers(host: str, file: str, start: int, end: int) -> Dict[str, str]:
    """The headers naming the bytes [start, end) of host's file."""
    return {ID_HEADER: f"{host}/{file}:{start}-{end}", HOST_HEADER: host, FILE_HEADER: file,
            OFFSET_HEADER: str(start)}


class ChunkSource(NamedTuple):
    """Where a chunk's bytes belong: host's file, from offset start."""

    host: str
    file: str
    start: int


def parse_chunk(headers: Optional[Dict[str, str]], payload: bytes) -> ChunkSource:
    """Where a received chunk belongs; ValueError saying why when it is not a chunk we could have sent.

    A stream may hold anything anyone published on its subjects: nothing in
    a message may lead a write outside its host's directory, into a file
    that is not a log file, or far past any real file's end.
    """
    if not headers:
        raise ValueError("no headers: not a fastevlog chunk")
    host, file, offset = (headers.get(key) for key in (HOST_HEADER, FILE_HEADER, OFFSET_HEADER))
    if host is None or file is None or offset is None:
        raise ValueError(f"missing {HOST_HEADER}, {FILE_HEADER} or {OFFSET_HEADER} header")
    if not _HOST.fullmatch(host) or host in (".", ".."):
        raise ValueError(f"{HOST_HEADER} {host[:200]!r} is not a host name we send")
    if not _FILE.fullmatch(file) or len(file.encode("utf-8", "surrogatepass")) > 255:
        raise ValueError(f"{FILE_HEADER} {file[:300]!r} is not a log file's name")
    if not offset.isascii() or not offset.isdigit() or len(offset) > 15:
        raise ValueError(f"{OFFSET_HEADER} {offset[:40]!r} is not a decimal offset")
    start = int(offset)
    if not payload:
        raise ValueError("empty payload")
    if start + len(payload) > MAX_OFFSET:
        raise ValueError(f"{OFFSET_HEADER} {start} is past any log file's end")
    if b"\0" in payload:
        raise ValueError("the payload holds a NUL byte, which no written log line does")
    return ChunkSource(host, file, start)
