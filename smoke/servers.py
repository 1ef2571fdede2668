"""Run a WSGI app on a free loopback port in a background thread."""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

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


def serve(app: Any, port: int = 0, name: str = "server", *, host: str = LOOPBACK,
          ssl_context: ssl.SSLContext | None = None) -> RunningServer:
    """Serve ``app`` on 127.0.0.1 (port 0 picks a free one), one thread per request; over TLS with ``ssl_context``."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
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
