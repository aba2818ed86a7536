"""Running an ASGI app on the network with uvicorn: the listening socket, stopping, addresses, QR.

The socket is bound before serving, so a port of 0 is known (and a port in use is one clear error)
before anything is printed. Ctrl-C, SIGTERM and SIGHUP stop it the same way: uvicorn finishes the
requests in flight (for a few seconds at most) and :attr:`Server.stopped_by` says which signal came.
"""

from __future__ import annotations

import contextlib
import io
import re
import signal
import socket
import threading
from collections.abc import Iterator

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from voiceguide.errors import VoiceguideError

BACKLOG = 256
"""Connections the kernel holds before the server accepts them: a household's phones at once, with room."""
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class ServeError(VoiceguideError):
    """Raised when the server cannot listen on the host and port asked for."""


_REQUEST_LINE = re.compile(rb"[!-~]+ [!-~]+ HTTP/[0-9]\.[0-9]")


class RequestLines(H11Protocol):  # type: ignore[misc]
    """uvicorn's HTTP/1.1 protocol, answering at once a request line that is not ``METHOD TARGET
    HTTP/x.y``: h11 would wait for headers that an HTTP/0.9 client never sends."""

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            pending = (self.conn.trailing_data[0] + data).lstrip(b"\r\n")
            line, newline, _ = pending.partition(b"\n")
            if newline and not _REQUEST_LINE.fullmatch(line.rstrip(b"\r")):
                self.send_400_response("Invalid HTTP request received.")
                return
        super().data_received(data)


class _Uvicorn(uvicorn.Server):
    """uvicorn's server, with every stop signal handled alike and remembered instead of raised again."""

    stopped_by: int | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self._stop) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, signum: int, frame: object) -> None:
        if self.stopped_by is not None and signum == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C does not wait for slow clients
        self.stopped_by = self.stopped_by or signum
        self.should_exit = True


class Server:
    """An app listening on ``host:port``; :meth:`serve_forever` runs it until a signal or :meth:`shutdown`."""

    request_queue_size = BACKLOG

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind((host, port))
            self.socket.listen(BACKLOG)
        except OSError as e:
            self.socket.close()
            raise ServeError(f"cannot listen on {host}:{port} ({e.strerror or e}); try another --port") from e
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self.app = app
        config = uvicorn.Config(app, http=RequestLines, ws="none", log_level="error", access_log=False, lifespan="off",
                                backlog=BACKLOG,
                                timeout_keep_alive=20, timeout_graceful_shutdown=3, server_header=False)
        self._uvicorn = _Uvicorn(config)
        self._serving = threading.Event()
        self._stopped = threading.Event()

    @property
    def stopped_by(self) -> int | None:
        """The signal that stopped the server, or None."""
        return self._uvicorn.stopped_by

    def serve_forever(self) -> None:
        self._serving.set()
        try:
            self._uvicorn.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    def shutdown(self, timeout: float = 10) -> None:
        """Stop a server running in another thread, and wait (up to ``timeout`` seconds) until it has."""
        self._uvicorn.should_exit = True
        if self._serving.is_set():
            self._stopped.wait(timeout)

    def server_close(self) -> None:
        self.socket.close()


# --------------------------------------------------------------------------- addresses


def lan_address() -> str:
    """This machine's address on the local network, for URLs a phone can open.

    Connecting a UDP socket sends nothing; it only asks the kernel which interface and address
    would be used for the route, which is the LAN address on a typical home network.
    """
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1: never contacted, only routed
        address: str = s.getsockname()[0]
        if not address.startswith("0."):
            return address
    with contextlib.suppress(OSError):
        address = socket.gethostbyname(socket.gethostname())
        if not address.startswith("127."):
            return address
    return "127.0.0.1"


def base_url(server: Server, host: str) -> str:
    """The server's address as a phone on the network would open it, ending in '/'."""
    port = server.server_address[1]
    shown = lan_address() if host in ("", "0.0.0.0", "::") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def reach_note(host: str) -> str:
    """Who can reach a server listening on ``host``, and how to change it."""
    if host.startswith("127.") or host in ("localhost", "::1"):
        return "Only this machine can reach it; use --host 0.0.0.0 for phones on the network."
    return ("Anyone on this network can open it, not only your phone; "
            "to keep it to this machine, use --host 127.0.0.1.")


def qr_text(data: str) -> str:
    """A QR code of ``data`` drawn with block characters, for a phone's camera to read off a terminal."""
    import qrcode  # type: ignore[import-untyped]

    qr = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_L)
    qr.add_data(data)
    qr.make(fit=True)
    out = io.StringIO()
    qr.print_ascii(out=out, invert=True)
    return out.getvalue()
