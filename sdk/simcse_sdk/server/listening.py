"""The listening sockets of ``simcse-serve``: bound once, before the model loads (by the supervisor with ``--workers``).

They are bound as uvicorn (asyncio's ``create_server``) binds its own: one socket for each address ``--host``
resolves to (``localhost``: 127.0.0.1 and ::1 where the machine has both; ``""``: every interface of both
families; ``::``: IPv6 only), an IPv6 socket for IPv6 alone, and an address family this machine has turned off
skipped. With port 0 every address gets the one free port the first address got.

With ``copies=N`` (``--workers N``, on Linux) each address gets N sockets on the port with ``SO_REUSEPORT``, one a
worker, and the kernel spreads new connections over them evenly. Workers accepting from one shared socket got them
unevenly: the first awake took a burst (wrk, 64 connections of 32-sentence requests on 2 workers: 19 and 45, or 0
and 16 of 16; p99 1.9 s against a p50 of 0.8 s). A plain socket is bound to the address first and closed, so a port
that anything holds, another ``simcse-serve --workers`` included, is refused as ever: ``SO_REUSEPORT`` alone would
let a second server of the same user join the first one's port and take half of its connections without a word.

Example:
    >>> socks = listen("127.0.0.1", 0)
    >>> url(socks[0]).startswith("http://127.0.0.1:")
    True
    >>> for s in socks: s.close()
"""

from __future__ import annotations

import errno
import logging
import socket
import sys

logger = logging.getLogger(__name__)

BACKLOG = 4096  # connections the kernel holds for accept(): a burst of clients is queued, not refused
# Whether --workers get a socket each (SO_REUSEPORT spreads connections evenly on Linux only; elsewhere the last
# socket bound would take them all, so the workers share one)
REUSE_PORT = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")
PORT_TRIES = 5  # port 0 on several addresses: a port free on the first may be taken on another; try again


class _PortTaken(Exception):
    """Port 0: the port the first address got is taken on another address."""


def listen(host: str, port: int, copies: int = 1) -> list[socket.socket]:
    """Listening TCP sockets on ``host``:``port`` (port 0: a free one), one an address the name resolves to; with
    ``copies`` > 1 (only where :data:`REUSE_PORT`), that many an address, in ``SO_REUSEPORT`` groups, address by
    address: worker ``i`` takes ``socks[i::copies]``.

    Raises:
        OSError: naming the address and what to change (``--port`` or ``--host``).
    """
    try:
        infos = list(dict.fromkeys(socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                      flags=socket.AI_PASSIVE)))  # each address once
    except socket.gaierror as e:
        raise OSError(e.errno, f"cannot listen on {host}:{port} ({e.strerror}): give --host an address or a name "
                               "this machine resolves") from None
    for _ in range(PORT_TRIES):
        try:
            return _bind_all(host, port, infos, copies)
        except _PortTaken:
            continue
    raise OSError(errno.EADDRINUSE, f"cannot listen on {host}: in {PORT_TRIES} tries no free port was free on every "
                                    "address it resolves to; give a --port")


def url(sock: socket.socket) -> str:
    """``http://HOST:PORT`` of a listening socket (an IPv6 address in brackets)."""
    return f"http://{_host_port(sock.family, sock.getsockname())}"


def _host_port(family: int, address: tuple) -> str:  # type: ignore[type-arg]
    """``HOST:PORT`` of a socket address, an IPv6 host in brackets."""
    return f"[{address[0]}]:{address[1]}" if family == socket.AF_INET6 else f"{address[0]}:{address[1]}"


def _bind_all(host: str, port: int, infos: list[tuple], copies: int) -> list[socket.socket]:  # type: ignore[type-arg]
    socks: list[socket.socket] = []
    skipped: list[str] = []
    try:
        for family, kind, proto, _, address in infos:
            try:
                sock = _socket(family, kind, proto, reuse_port=False)
            except OSError as e:  # this family is off on this machine (IPv6 disabled): skipped, as asyncio does
                skipped.append(f"{address[0]} ({e.strerror})")
                continue
            if port == 0 and socks:  # a free port: the one the first address got, on every address
                address = (address[0], socks[0].getsockname()[1], *address[2:])
            try:
                sock.bind(address)
            except OSError as e:
                sock.close()
                if e.errno == errno.EADDRNOTAVAIL:  # not an address of this machine now: skipped, as asyncio does
                    skipped.append(f"{address[0]} ({e.strerror})")
                    continue
                if e.errno == errno.EADDRINUSE and port == 0 and socks:
                    raise _PortTaken from None
                raise _in_use(e, family, address) from None
            if copies > 1:  # the address and port are free (a plain bind took them): now one socket a worker
                address = sock.getsockname()
                sock.close()
                try:
                    for _ in range(copies):
                        socks.append(_socket(family, kind, proto, reuse_port=True))  # closed with the rest on failure
                        socks[-1].bind(address)
                        socks[-1].listen(BACKLOG)
                except OSError as e:  # taken in between, by a process that was quicker
                    if port == 0:
                        raise _PortTaken from None
                    raise _in_use(e, family, address) from None
                continue
            sock.listen(BACKLOG)
            socks.append(sock)
        if not socks:
            raise OSError(errno.EADDRNOTAVAIL, f"cannot listen on {host}:{port}: none of its addresses can be bound "
                                               f"here ({'; '.join(skipped)}); give --host an address of this machine")
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    for what in skipped:
        logger.warning("not listening on %s: skipped", what)
    return socks


def _in_use(e: OSError, family: int, address: tuple) -> OSError:  # type: ignore[type-arg]
    return OSError(e.errno, f"cannot listen on {_host_port(family, address)} ({e.strerror}): pick another --port, or "
                            "stop what uses it")


def _socket(family: int, kind: int, proto: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:  # ::1 and 127.0.0.1 on one port: each socket its own family
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    except BaseException:
        sock.close()
        raise
    return sock
