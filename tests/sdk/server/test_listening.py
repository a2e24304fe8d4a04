"""The supervisor's listening sockets: every address a host resolves to, one port, errors that say what to change."""

from __future__ import annotations

import errno
import socket

import pytest
from simcse_sdk.server.listening import PORT_TRIES, REUSE_PORT, listen, url

RESOLVE = socket.getaddrinfo


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def resolving(monkeypatch: pytest.MonkeyPatch, *entries: tuple[str, int]) -> None:
    """``getaddrinfo("somehost", port)`` gives these (address, proto) entries, each resolved for real."""

    def fake(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        assert host == "somehost"
        out = []
        for address, proto in entries:
            family, kind, _, name, sockaddr = RESOLVE(address, port, *args, **kwargs)[0]
            out.append((family, kind, proto, name, sockaddr))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_every_address_of_the_host_on_one_port(monkeypatch):
    """--host localhost where it resolves to 127.0.0.1 and ::1 (as uvicorn alone binds): one socket each, one port,
    and a client reaches the server on both."""
    if not ipv6_loopback():
        pytest.skip("::1 cannot be bound on this machine")
    resolving(monkeypatch, ("127.0.0.1", 6), ("::1", 6))
    socks = listen("somehost", 0)
    try:
        assert [s.family for s in socks] == [socket.AF_INET, socket.AF_INET6]
        port = socks[0].getsockname()[1]
        assert [url(s) for s in socks] == [f"http://127.0.0.1:{port}", f"http://[::1]:{port}"]
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            with socket.socket(family) as client:
                client.connect((host, port))
    finally:
        for s in socks:
            s.close()


def test_an_address_that_is_not_this_machines_is_skipped(monkeypatch, caplog):
    resolving(monkeypatch, ("127.0.0.1", 6), ("192.0.2.1", 6))  # TEST-NET-1: on no machine
    socks = listen("somehost", 0)
    try:
        assert [s.getsockname()[0] for s in socks] == ["127.0.0.1"]
        assert "not listening on 192.0.2.1" in caplog.text
    finally:
        for s in socks:
            s.close()


def test_no_address_of_this_machine_says_to_change_host(monkeypatch):
    resolving(monkeypatch, ("192.0.2.1", 6))
    with pytest.raises(OSError, match=r"cannot listen on somehost:0: none of its addresses can be bound here "
                                      r"\(192\.0\.2\.1 .*give --host an address of this machine") as e:
        listen("somehost", 0)
    assert e.value.errno == errno.EADDRNOTAVAIL


def test_a_port_in_use_names_the_address_and_port():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=rf"cannot listen on 127\.0\.0\.1:{port} .*pick another --port"):
            listen("127.0.0.1", port)


def test_port_0_tries_again_when_the_first_port_is_taken_on_another_address(monkeypatch):
    """The same address twice (two protocol numbers for TCP): the second bind of any free port fails, so every try
    fails, and the error says to give a port; no socket is left open."""
    resolving(monkeypatch, ("127.0.0.1", 0), ("127.0.0.1", 6))
    opened: list[socket.socket] = []
    real = socket.socket

    class Tracked(real):  # type: ignore[misc,valid-type]
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            opened.append(self)

    monkeypatch.setattr(socket, "socket", Tracked)
    with pytest.raises(OSError, match=rf"in {PORT_TRIES} tries no free port was free on every address .*give a --port"):
        listen("somehost", 0)
    assert len(opened) == 2 * PORT_TRIES and all(s.fileno() == -1 for s in opened)


@pytest.mark.skipif(not REUSE_PORT, reason="SO_REUSEPORT spreads connections on Linux only")
def test_copies_take_even_shares_of_new_connections():
    """--workers 2: a socket each on one port, and the kernel spreads 64 new connections over both (a shared socket
    gave a burst to whichever worker woke first: 0 and 16 of 16, 14 and 50 of 64, under wrk). Each gets at least
    12 of 64 unless the kernel does not spread them (by chance: about 1 in 3 million)."""
    socks = listen("127.0.0.1", 0, copies=2)
    clients: list[socket.socket] = []
    try:
        assert len(socks) == 2 and len({s.getsockname() for s in socks}) == 1
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for s in socks)
        for _ in range(64):
            clients.append(socket.create_connection(socks[0].getsockname(), timeout=5))
        accepted = []
        for s in socks:
            s.setblocking(False)
            n = 0
            while True:
                try:
                    conn, _ = s.accept()
                except BlockingIOError:
                    break
                conn.close()
                n += 1
            accepted.append(n)
        assert sum(accepted) == 64 and min(accepted) >= 12, accepted
    finally:
        for c in [*clients, *socks]:
            c.close()


@pytest.mark.skipif(not REUSE_PORT, reason="SO_REUSEPORT groups on Linux only")
def test_copies_do_not_join_a_port_held_with_reuse_port():
    """Another server's SO_REUSEPORT group on the port: refused as any port in use, not joined."""
    first = listen("127.0.0.1", 0, copies=2)
    try:
        port = first[0].getsockname()[1]
        with pytest.raises(OSError, match=rf"cannot listen on 127\.0\.0\.1:{port} .*pick another --port"):
            listen("127.0.0.1", port, copies=2)
    finally:
        for s in first:
            s.close()
