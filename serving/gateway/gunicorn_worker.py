"""The gateway's gunicorn worker: gunicorn's threaded worker (gthread), safe against slow
and idle clients, and refusing new connections as soon as it stops.

gunicorn's gthread worker hands each accepted connection to a thread of its pool, which
reads the request with blocking reads. The fault scenarios (tests/faults) showed what that
costs a gateway that has no buffering proxy in front of it:
- a connection that sends nothing holds a thread for 5 s before it is parked, so a
  hundred idle connections kept normal clients waiting for a minute;
- a client sending its request head a byte at a time (slow-loris) holds a thread for as
  long as it likes: twenty of them stopped the gateway;
- on SIGTERM a worker stops accepting but keeps its copy of the listening socket until
  its last request is done, so new connections are accepted by the kernel, wait, and are
  reset when it exits, instead of being refused.

This worker:
- parks new and kept-alive connections on its event loop, which reads what arrives
  without blocking; a thread gets the connection only once a whole request head is there,
  or HEAD_BUFFER bytes of it (the thread reads the rest within the read deadline below;
  gunicorn's limits refuse heads of more than about 0.5 MB with a 4xx). A parked
  connection that sends nothing is closed after `keepalive` seconds; a head must be
  complete within GATEWAY_READ_TIMEOUT_SECONDS of its first byte, else it is dropped;
- gives the body the same budget: once a thread has the request, its reads from the
  client end GATEWAY_READ_TIMEOUT_SECONDS later (werkzeug then answers 400, or the
  connection is closed);
- closes its copies of the listening sockets when it starts to stop.

TLS and HTTP/2 cleartext (the gateway uses neither: TLS ends in front of it) keep
gunicorn's own behaviour.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from functools import partial

from gunicorn.workers import gthread

# Hand a head to a thread at this size even if it is not complete (the bytes a parked
# connection may hold: memory per connection stays small).
HEAD_BUFFER = 64 * 1024
_CHUNK = 16 * 1024


class ReadDeadlineExceeded(ConnectionResetError):
    """The client did not send its request within the read timeout.

    A ConnectionResetError, so that gunicorn closes the connection quietly (as for a client
    that went away) and werkzeug turns it into 400 during a body read."""

    def __init__(self) -> None:
        super().__init__(errno.ECONNRESET, "the client did not send its request in time")


class DeadlineSocket(socket.socket):
    """A socket whose blocking reads end at `read_deadline` (time.monotonic()), when set."""

    read_deadline: float | None = None

    @classmethod
    def adopt(cls, sock: socket.socket) -> DeadlineSocket:
        """The same connection as `sock` (which is detached) as a DeadlineSocket."""
        return cls(sock.family, sock.type, sock.proto, fileno=sock.detach())

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """socket.recv, ending by ReadDeadlineExceeded at the deadline."""
        deadline = self.read_deadline
        timeout = self.gettimeout()
        if deadline is None or timeout == 0.0:  # no deadline, or a non-blocking read
            return super().recv(bufsize, flags)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ReadDeadlineExceeded()
        self.settimeout(remaining if timeout is None else min(timeout, remaining))
        try:
            return super().recv(bufsize, flags)
        except TimeoutError:
            if time.monotonic() >= deadline:
                raise ReadDeadlineExceeded() from None
            raise  # the caller's own, shorter timeout
        finally:
            self.settimeout(timeout)


class GatewayWorker(gthread.ThreadWorker):
    """gthread, with request heads read on the event loop and a read deadline per request."""

    read_timeout = 15.0

    def init_process(self) -> None:
        """Read GATEWAY_READ_TIMEOUT_SECONDS (checked by gunicorn.conf.py before the fork)."""
        from serving.gateway.settings import Settings

        self.read_timeout = Settings.from_env().read_timeout_seconds
        self.park_heads = not self.cfg.is_ssl and self.cfg.http2_cleartext == "off"
        super().init_process()

    # -- connections wait on the event loop until their request head is there -----------

    def accept(self, listener) -> None:
        """Accept a connection and park it (gunicorn hands it to a thread at once)."""
        if not self.park_heads:
            return super().accept(listener)
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return None
        self.nr_conns += 1
        conn = gthread.TConn(self.cfg, DeadlineSocket.adopt(client), address, listener.getsockname())
        self._park(conn)
        return None

    def on_client_socket_readable(self, conn, client) -> None:
        """A kept-alive connection has data: park it until its next head is complete."""
        if not self.park_heads:
            return super().on_client_socket_readable(conn, client)
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._park(conn)
        return None

    def _park(self, conn) -> None:
        conn.head = bytearray()
        conn.sock.setblocking(False)
        conn.timeout = time.monotonic() + (self.cfg.keepalive or gthread.DEFAULT_WORKER_DATA_TIMEOUT)
        self.pending_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_parked_readable, conn))

    def _on_parked_readable(self, conn, _client) -> None:
        try:
            data = conn.sock.recv(_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._unpark(conn)
            self.nr_conns -= 1
            conn.close()
            return
        if not conn.head:
            conn.timeout = time.monotonic() + self.read_timeout
        conn.head += data
        if b"\r\n\r\n" in conn.head or b"\n\n" in conn.head or len(conn.head) >= HEAD_BUFFER:
            self._unpark(conn)
            conn.data_ready = True
            self.enqueue_req(conn)

    def _unpark(self, conn) -> None:
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass
        self.pending_conns.remove(conn)

    def murder_pending(self) -> None:
        """Close parked connections past their time (idle, or a head too slow)."""
        now = time.monotonic()
        for conn in [c for c in self.pending_conns if c.timeout <= now]:
            self._unpark(conn)
            self.nr_conns -= 1
            conn.close()

    # -- a thread reads one request within the deadline ---------------------------------

    def handle(self, conn):
        """Give the thread the parked head, and bound its reads of this request."""
        head = getattr(conn, "head", None)
        if head:
            conn.head = None
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(bytes(head))
        sock = conn.sock
        if isinstance(sock, DeadlineSocket):
            sock.read_deadline = time.monotonic() + self.read_timeout
        try:
            return super().handle(conn)
        finally:
            if isinstance(sock, DeadlineSocket):
                sock.read_deadline = None

    # -- stopping ---------------------------------------------------------------------------

    def set_accept_enabled(self, enabled: bool) -> None:
        """When the worker stops, also close its listening sockets: new connections are then
        refused (once the master and every worker have closed theirs) instead of waiting."""
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive:
            for listener in self.sockets:
                listener.close()
            linger = time.monotonic() + gthread.STOP_KEEPALIVE_LINGER
            for conn in self.pending_conns:
                if not getattr(conn, "head", None):
                    conn.timeout = min(conn.timeout, linger)
