"""Run a WSGI app on a free loopback port in a background thread."""

from __future__ import annotations

import errno
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from smoke.errors import ConfigError

LOOPBACK = "127.0.0.1"


@dataclass
class RunningServer:
    """A server started by :func:`serve`; stop it with :meth:`stop` or use it as a context manager."""

    server: BaseWSGIServer
    thread: threading.Thread
    app: Any = field(repr=False)

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.server.server_port)

    @property
    def url(self) -> str:
        """The base URL on loopback (``https`` when serving TLS), without a trailing slash."""
        scheme = "https" if getattr(self.server, "ssl_context", None) is not None else "http"
        return f"{scheme}://{LOOPBACK}:{self.port}"

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def probe(host: str, port: int) -> None:
    """Bind ``host:port`` for a moment as the server will (address reuse on): OSError when it cannot listen there."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as trial:
        trial.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        trial.bind((host, port))


def port_in_use(host: str, port: int, option: str = "--port") -> str:
    """The sentence for a port something else already listens on (``option``: the flag that chose it)."""
    return (f"Port {port} on {host} is already in use; stop what listens there or pick another {option} "
            "(0 picks a free one).")


def claim(host: str, port: int, option: str = "--port") -> None:
    """``probe``, a refusal worded as one sentence (werkzeug's answer is two lines of its own and exit(1))."""
    try:
        probe(host, port)
    except PermissionError:
        raise ConfigError(f"Listening on port {port} needs root (or CAP_NET_BIND_SERVICE); pick a port above 1023 "
                          "(0 picks a free one).") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(port_in_use(host, port, option)) from None
        raise ConfigError(f"Cannot listen on {host}:{port} ({exc.strerror or exc}).") from None


def serve(app: Any, port: int = 0, name: str = "server", *, host: str = LOOPBACK,
          ssl_context: ssl.SSLContext | None = None) -> RunningServer:
    """Serve ``app`` on 127.0.0.1 (port 0 picks a free one), one thread per request; over TLS with ``ssl_context``.

    A port it cannot listen on is a ConfigError of one sentence.
    """
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    claim(host, port)
    server = make_server(host, port, app, threaded=True)
    server.daemon_threads = True  # type: ignore[attr-defined]  # threaded=True makes a ThreadingMixIn server
    if ssl_context is not None:
        # Each connection's handshake happens on its own thread at its first read, not in accept(): a client that
        # connects and sends nothing (a port probe) must not stall the server.
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        server.ssl_context = ssl_context
    # A short poll: shutdown() waits for the loop to look up, and every stop (each test's servers) pays that wait.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"smoke-{name}",
                              daemon=True)
    thread.start()
    return RunningServer(server=server, thread=thread, app=app)


def serve_until_interrupted(stop: Callable[[], None]) -> None:
    """Block until Ctrl-C, then call ``stop`` (the foreground commands ``demo`` and ``emulator``)."""
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
