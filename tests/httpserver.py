"""A scripted local HTTP server for the remote-source tests (after psf/requests'
tests/testserver/server.py).

    with Server([Reply(body="Date,Close\\n..."), Reply(status=500)]) as server:
        source = StooqSource(base_url=server.url)
        ...
        assert server.requests[0].query["s"] == ["eurpln"]

Replies are a list (served in order), a mapping from path (without query) to
a Reply or a list of them, or a function Recorded -> Reply. A request with no
scripted reply gets 418 (not retried by clients) and is recorded in `unscripted`.
Each request is recorded with its path, query and headers. Delays are capped
and cut short when the server stops, so leaving the `with` block is quick.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_DELAY = 2.0
"""Longest delay a reply may ask for, in seconds."""


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (capped at MAX_DELAY)."""
    content_length: int | None = None
    """Content-Length to announce; more than len(body) simulates a cut-off transfer."""
    send_length: bool = True
    """False: no Content-Length; the end of the body is the server closing the connection."""
    chunked_cut: bool = False
    """Send the body as one chunk that announces twice its size, then close: a cut chunked transfer."""
    trickle: float = 0.0
    """Seconds between single bytes of the body (a server that trickles; capped at MAX_DELAY)."""
    endless: bool = False
    """Repeat the body until the client hangs up or the server stops (no Content-Length)."""

    def payload(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    target: str
    """Path and query as sent, e.g. /q/d/l/?s=eurpln&i=d."""
    headers: dict[str, str]
    """Header names in lower case."""

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)


Script = Sequence[Reply] | Mapping[str, Reply | Sequence[Reply]] | Callable[[Recorded], Reply]


class Server:
    """Threaded HTTP server on 127.0.0.1, a free port, serving a script."""

    def __init__(self, script: Script | Reply) -> None:
        if isinstance(script, Reply):
            script = [script]
        self.script = script
        self.requests: list[Recorded] = []
        self.unscripted: list[Recorded] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._served: dict[str, int] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "use the server inside `with`"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Server:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers

            def do_GET(self) -> None:
                recorded = Recorded(
                    "GET", self.path, {k.lower(): v for k, v in self.headers.items()}
                )
                reply = server._reply_for(recorded)
                if reply.delay > 0 and server._stop.wait(min(reply.delay, MAX_DELAY)):
                    return  # server stopping: drop the connection
                payload = reply.payload()
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": "text/plain; charset=utf-8", **reply.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    length = reply.content_length
                    if reply.chunked_cut:
                        self.send_header("Transfer-Encoding", "chunked")
                    elif reply.send_length and not reply.endless:
                        self.send_header("Content-Length", str(len(payload) if length is None else length))
                    self.end_headers()
                    if reply.chunked_cut:
                        self.wfile.write(b"%x\r\n" % (2 * len(payload)) + payload)
                    elif reply.trickle > 0:
                        for byte in payload:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            if server._stop.wait(min(reply.trickle, MAX_DELAY)):
                                return
                    elif reply.endless:
                        while not server._stop.is_set():
                            self.wfile.write(payload)
                    else:
                        self.wfile.write(payload)
                    self.wfile.flush()
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, format: str, *args: object) -> None:
                pass

        class QuietServer(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request, client_address) -> None:
                pass  # a client hanging up mid-answer is expected in some tests

        self._httpd = QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _reply_for(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            script = self.script
            if callable(script):
                return script(recorded)
            if isinstance(script, Mapping):
                key = recorded.path
                replies = script.get(key)
                if replies is None:
                    return self._unscripted(recorded)
                if isinstance(replies, Reply):
                    return replies
                index = self._served.get(key, 0)
                self._served[key] = index + 1
                # The last reply of a list repeats.
                return replies[min(index, len(replies) - 1)] if replies else self._unscripted(recorded)
            index = self._served.get("", 0)
            self._served[""] = index + 1
            if index < len(script):
                return script[index]
            return self._unscripted(recorded)

    def _unscripted(self, recorded: Recorded) -> Reply:
        self.unscripted.append(recorded)
        return Reply(status=418, body=f"no scripted reply for {recorded.target}")
