"""A small TCP proxy on 127.0.0.1 that breaks a share of the HTTP requests passing through it.

Put it between the package and a storage server (moto, the GCS emulator) to see what the package
does when the network misbehaves. Each new HTTP request (the first bytes a client sends on a
connection, or the next request on a kept-alive one) is, by a seeded draw:

- reset: the connection is closed with a TCP RST before the request reaches the server
  (the client sees "connection reset by peer");
- unavailable: answered ``503`` (``unavailable_response``) and closed;
- ruled: answered by ``rule(request_head)`` when that returns bytes (a canned error for
  requests that match, e.g. an expired-token reply to one access key);
- else forwarded untouched, both ways.

Faults stop after ``max_faults`` (bounded), and the proxy stops itself after ``lifetime``
seconds if the test forgets to. ``stats`` counts requests and faults of each kind.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from types import TracebackType
from urllib.parse import urlsplit

METHODS = (b"GET ", b"PUT ", b"POST ", b"HEAD ", b"DELETE ", b"PATCH ", b"OPTIONS ")
SERVICE_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 19\r\n"
    b"Connection: close\r\n\r\nService Unavailable"
)


def http_response(status: str, body: bytes, content_type: str = "application/xml") -> bytes:
    """A complete HTTP/1.1 response that closes the connection."""
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class FaultProxy:
    """Forward 127.0.0.1:<port> to ``upstream`` (``http://host:port``), breaking some requests.

    :param reset: share of requests answered with a connection reset
    :param unavailable: share of requests answered with ``unavailable_response`` (503)
    :param max_faults: faults injected at most (resets + unavailable; ruled replies not counted)
    :param rule: ``rule(request_head) -> bytes | None``: a reply to send instead of forwarding
    :param seed: the draws' seed
    :param lifetime: seconds after which the proxy stops by itself
    """

    def __init__(
        self,
        upstream: str,
        *,
        reset: float = 0.0,
        unavailable: float = 0.0,
        max_faults: int = 20,
        rule: Callable[[bytes], bytes | None] | None = None,
        unavailable_response: bytes = SERVICE_UNAVAILABLE,
        seed: int = 3,
        lifetime: float = 600.0,
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.reset = reset
        self.unavailable = unavailable
        self.max_faults = max_faults
        self.rule = rule
        self.unavailable_response = unavailable_response
        self.lifetime = lifetime
        self.stats: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept_loop, name="faultproxy", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def faults(self) -> int:
        return self.stats["reset"] + self.stats["unavailable"]

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the proxy ---------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        deadline = time.monotonic() + self.lifetime
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()
        self._stop.set()

    def _decide(self, head: bytes) -> tuple[str, bytes]:
        """What to do with a new request, and the reply to send instead of forwarding it."""
        with self._lock:
            self.stats["requests"] += 1
            ruled = self.rule(head) if self.rule is not None else None
            if ruled is not None:
                self.stats["ruled"] += 1
                return "reply", ruled
            draw = self._random.random()
            if self.faults >= self.max_faults:
                return "forward", b""
            if draw < self.reset:
                self.stats["reset"] += 1
                return "reset", b""
            if draw < self.reset + self.unavailable:
                self.stats["unavailable"] += 1
                return "reply", self.unavailable_response
            return "forward", b""

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        client.settimeout(60)
        try:
            while not self._stop.is_set():
                chunk = client.recv(65536)
                if not chunk:
                    return
                if chunk.startswith(METHODS):
                    action, reply = self._decide(chunk)
                    if action == "reset":
                        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        return
                    if action == "reply":
                        if chunk.startswith(b"HEAD "):  # a reply to HEAD has headers only
                            reply = reply.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
                        client.sendall(reply)
                        return
                if upstream is None:
                    upstream = socket.create_connection(self.upstream, timeout=60)
                    threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
                upstream.sendall(chunk)
        except OSError:
            return
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)
