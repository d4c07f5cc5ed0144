"""HTTP plumbing shared by the remote sources: session, retries, timeouts, errors.

Every request has a (connect, read) timeout, an overall deadline and a size
cap: the body is streamed, so a server that trickles bytes or never stops
cannot hang seqcast or fill memory, and a body that ends before its announced
length is refused. Connection errors and 5xx answers are retried with backoff
by urllib3's Retry; 4xx answers and read timeouts are not (they would only
repeat). requests' exceptions become DownloadError with a message naming the
host, what failed and what to do; secrets such as stooq's apikey are never
part of a message (see redact_url).
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError
from urllib3.exceptions import HTTPError as URLLib3Error
from urllib3.util import Retry

from seqcast.errors import AccessDeniedError, ConfigError, DownloadError, RateLimitError

Timeout = float | tuple[float, float]

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
"""Seconds to connect and to wait between bytes of the answer."""
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5
"""urllib3 backoff factor: waits of about 0, 1, 2 s between the retries."""
RETRY_STATUSES = (500, 502, 503, 504)
DEFAULT_DEADLINE = 120.0
"""Seconds one request may take in all, however slowly the server sends."""
DEADLINE_ENV = "SEQCAST_DOWNLOAD_DEADLINE"
DEFAULT_MAX_BYTES = 200_000_000
"""The largest answer accepted; decades of daily prices are well under 1 MB."""
MAX_BYTES_ENV = "SEQCAST_DOWNLOAD_MAX_BYTES"
_READ_SIZE = 64 * 1024
HOMEPAGE = "https://github.com/seqcast/seqcast"

_SECRET_PARAM_RE = re.compile(r"(?i)\b(apikey=)[^&#\s]*")


def user_agent() -> str:
    """An identifying User-Agent: seqcast/<version> (+homepage)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("seqcast")
    except PackageNotFoundError:
        ver = "0.1.0"
    return f"seqcast/{ver} (+{HOMEPAGE})"


def make_session(
    *, retries: int = DEFAULT_RETRIES, backoff_factor: float = DEFAULT_BACKOFF
) -> requests.Session:
    """A session that retries connection errors and 5xx answers of GET requests."""
    retry = Retry(
        total=retries,
        read=False,  # a read timeout is reported at once, not repeated
        backoff_factor=backoff_factor,
        status_forcelist=RETRY_STATUSES,
        allowed_methods={"GET"},
        raise_on_status=False,  # hand back the last 5xx so its status can be reported
        respect_retry_after_header=False,  # keep waits bounded by backoff_factor
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = user_agent()
    return session


def resolve_base_url(base_url: str | None, env_var: str, default: str) -> str:
    """The base URL (scheme and host): the argument, else $env_var, else default."""
    url = base_url or os.environ.get(env_var) or default
    url = url.strip().rstrip("/")
    try:
        parts = urlsplit(url)  # "http://[::1" (an unclosed IPv6 host) or "[zz]" raise ValueError here
        valid = (parts.scheme in ("http", "https") and bool(parts.hostname)
                 and not any(ch.isspace() for ch in url) and (parts.port is None or parts.port > 0))
    except ValueError:  # a broken IPv6 host, a port that is not a number or out of range
        valid = False
    if not valid:
        origin = "base_url" if base_url else env_var if os.environ.get(env_var) else "default"
        raise ConfigError(
            f"{origin} {url!r} is not an http(s) URL; use e.g. {default}"
        )
    return url


def limit_from_env(name: str, default: float) -> float:
    """A positive number from $name (download deadline, size cap), else default."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a positive number, got {raw!r}")
    return value


def redact_url(url: str) -> str:
    """The URL with any apikey=... value replaced by ***, safe to show."""
    return _SECRET_PARAM_RE.sub(r"\1***", url)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Text with every secret (and any apikey=... value) replaced by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return redact_url(text)


def host_of(url: str) -> str:
    return urlsplit(url).netloc or url


def prepared_url(url: str, params: Mapping[str, Any] | None = None) -> str:
    """The full URL requests will send for url and params (not redacted)."""
    return requests.Request("GET", url, params=dict(params or {})).prepare().url or url


def range_text(start: date | None, end: date | None) -> str:
    """ " between A and B" / " from A" / " until B" / "" for messages."""
    if start and end:
        return f" between {start} and {end}"
    if start:
        return f" from {start}"
    if end:
        return f" until {end}"
    return ""


def snippet(body: bytes | str, secrets: Iterable[str] = (), limit: int = 60) -> str:
    """The first characters of an answer, one line, secrets removed."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    text = "".join(ch if ch.isprintable() else "?" for ch in text)  # binary bytes stay one readable line
    text = scrub(text, secrets)
    return text[:limit] + ("..." if len(text) > limit else "")


def is_framed(headers: Mapping[str, str]) -> bool:
    """True when an answer announced where it ends (Content-Length or chunked), so urllib3 checked it."""
    return "content-length" in {k.lower() for k in headers} or \
        "chunked" in str(headers.get("Transfer-Encoding", "")).lower()


def check_complete(body: bytes, service: str, what: str, *, line_end: bool = True) -> None:
    """DownloadError when a text answer is binary, or (line_end) does not end with a line end.

    stooq ends every line, the last one included; a body without that end was
    cut off in transfer (a connection closed early, or a Content-Length
    shorter than the data), most likely inside the last number.
    """
    if b"\x00" in body[:8192]:
        raise DownloadError(
            f"{service} answered for {what} with binary data, not text; nothing was stored, try again later"
        )
    if line_end and body.strip() and not body.endswith((b"\n", b"\r")):
        tail = body[-30:].decode("utf-8", errors="replace").splitlines()[-1:]
        raise DownloadError(
            f"the answer from {service} for {what} looks cut off: its last line "
            f"{(tail[0] if tail else '')!r} has no line end, so its last number may be incomplete; "
            "nothing was stored, try again"
        )


class HTTPClient:
    """GET with timeouts, retries, a deadline, a size cap and DownloadError instead of requests' exceptions.

    Args:
        service: how messages name the remote side ("stooq", "the ECB", "NBP").
        session: a requests.Session to use as is (no retry adapter is mounted
            on it); by default one with retries is made.
        deadline: seconds one request may take in all (default $SEQCAST_DOWNLOAD_DEADLINE or 120).
        max_bytes: the largest body accepted (default $SEQCAST_DOWNLOAD_MAX_BYTES or 200 MB).
    """

    def __init__(
        self,
        service: str,
        *,
        session: requests.Session | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff_factor: float = DEFAULT_BACKOFF,
        deadline: float | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self.service = service
        self.session = session or make_session(retries=retries, backoff_factor=backoff_factor)
        self.timeout = timeout
        self.retries = retries if session is None else 0
        self.deadline = deadline if deadline is not None else limit_from_env(DEADLINE_ENV, DEFAULT_DEADLINE)
        self.max_bytes = int(max_bytes if max_bytes is not None
                             else limit_from_env(MAX_BYTES_ENV, DEFAULT_MAX_BYTES))
        if not (self.deadline > 0 and self.max_bytes > 0):
            raise ConfigError("the download deadline and size cap must be positive")

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """GET url and read the whole body; any failure to get all of it raises DownloadError.

        The body is streamed: reading stops with DownloadError when it passes
        max_bytes, when the deadline passes, or when the connection ends before
        the announced length (urllib3 checks Content-Length and chunk sizes).
        """
        all_headers = {"User-Agent": user_agent(), **(headers or {})}
        ends_at = time.monotonic() + self.deadline
        connect, read = self.timeout if isinstance(self.timeout, tuple) else (self.timeout,) * 2
        try:
            response = self.session.get(
                url, params=params, headers=all_headers, timeout=(connect, min(read, self.deadline)),
                stream=True,
            )
        except requests.RequestException as exc:
            raise DownloadError(self._describe(exc, url)) from exc
        try:
            body = self._read_body(response, url, ends_at)
        finally:
            response.close()
        response._content = body  # what response.content and .json() read from now on
        response._content_consumed = True  # type: ignore[attr-defined]
        return response

    def _read_body(self, response: requests.Response, url: str, ends_at: float) -> bytes:
        host = host_of(url)
        announced = response.headers.get("Content-Length", "").strip()
        if announced.isdigit() and int(announced) > self.max_bytes:
            raise DownloadError(self._too_large(host, int(announced)))
        raw = response.raw
        read1 = getattr(raw, "read1", None)  # urllib3 >= 2: returns as soon as some bytes arrive
        chunks: list[bytes] = []
        total = 0
        try:
            while True:
                left = ends_at - time.monotonic()
                if left <= 0:
                    raise DownloadError(self._too_slow(host))
                _shorten_socket_timeout(raw, left, self.timeout)
                chunk = (read1(_READ_SIZE, decode_content=True) if read1 is not None
                         else raw.read(_READ_SIZE, decode_content=True))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
                if total > self.max_bytes:
                    raise DownloadError(self._too_large(host, None))
        except ReadTimeoutError as exc:
            if time.monotonic() >= ends_at - 0.01:
                raise DownloadError(self._too_slow(host)) from exc
            raise DownloadError(self._describe(requests.ReadTimeout(exc), url)) from exc
        except DecodeError as exc:
            raise DownloadError(
                f"the answer from {self.service} ({host}) is damaged (its Content-Encoding "
                f"{response.headers.get('Content-Encoding', '')!r} cannot be decoded); try again"
            ) from exc
        except ProtocolError as exc:
            raise DownloadError(self._describe(requests.exceptions.ChunkedEncodingError(exc), url)) from exc
        except (URLLib3Error, OSError) as exc:
            raise DownloadError(self._describe(requests.ConnectionError(exc), url)) from exc
        return b"".join(chunks)

    def _too_slow(self, host: str) -> str:
        return (
            f"the download from {self.service} ({host}) took longer than {self.deadline:g} s in all "
            f"and was stopped; try again later (the limit is {DEADLINE_ENV})"
        )

    def _too_large(self, host: str, announced: int | None) -> str:
        size = f" ({announced / 1e6:.0f} MB announced)" if announced else ""
        return (
            f"the answer from {self.service} ({host}) is larger than {self.max_bytes / 1e6:g} MB{size} "
            f"and was refused; check the URL (the limit is {MAX_BYTES_ENV})"
        )

    def raise_for_status(self, response: requests.Response, secrets: Iterable[str] = ()) -> None:
        """DownloadError for any answer other than 2xx, with status and a next step."""
        if response.ok:
            return
        host = host_of(response.url)
        code = response.status_code
        status = f"HTTP {code} {response.reason or ''}".strip()
        if code in RETRY_STATUSES:
            tried = f", also after {self.retries} retries" if self.retries else ""
            raise DownloadError(
                f"{self.service} ({host}) answered {status}{tried}: the service has a "
                "problem; try again later"
            )
        if code == 429:
            wait = retry_after_text(response.headers.get("Retry-After"))
            raise RateLimitError(
                f"{self.service} ({host}) answered {status}: too many requests for now; "
                f"wait {wait} before fetching again"
            )
        if code in (401, 403):
            what = "requires a login or key" if code == 401 else "refused access (forbidden)"
            raise AccessDeniedError(
                f"{self.service} ({host}) answered {status}: it {what} for "
                f"{redact_url(scrub(response.url, secrets))}; check the API key or your network "
                "(proxy, VPN), or try again later"
            )
        body = snippet(response.content, secrets)
        said = f" ({body!r})" if body else ""
        raise DownloadError(
            f"{self.service} ({host}) answered {status}{said} for "
            f"{redact_url(scrub(response.url, secrets))}; check the symbol and dates"
        )

    def _describe(self, exc: requests.RequestException, url: str) -> str:
        # Never str(exc): requests puts the full URL, apikey included, in it.
        host = host_of(url)
        connect, read = self.timeout if isinstance(self.timeout, tuple) else (self.timeout,) * 2
        read = min(read, self.deadline)
        if isinstance(exc, requests.ConnectTimeout):
            return (
                f"connecting to {self.service} ({host}) timed out after {connect:g} s; "
                "check your internet connection or proxy, or try again later"
            )
        if isinstance(exc, requests.ReadTimeout) or _caused_by(exc, ReadTimeoutError):
            return (
                f"{self.service} ({host}) did not answer within {read:g} s; "
                "the service may be slow or down, try again later"
            )
        if isinstance(exc, (requests.exceptions.ChunkedEncodingError,
                            requests.exceptions.ContentDecodingError)):
            return (
                f"the download from {self.service} ({host}) broke off before the answer "
                "was complete; try again"
            )
        if isinstance(exc, requests.TooManyRedirects):
            return f"{self.service} ({host}) redirected too many times (a loop?); try again later"
        if isinstance(exc, (requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL)):
            return (
                f"{self.service} ({host}) redirected to an address that is not http(s); refused. "
                "Check the URL (SEQCAST_*_URL) or try again later"
            )
        if isinstance(exc, requests.exceptions.RetryError):
            return (
                f"{self.service} ({host}) kept answering with server errors; try again later"
            )
        if isinstance(exc, requests.exceptions.SSLError):
            return (
                f"the secure connection to {self.service} ({host}) failed (TLS/certificate); "
                "check the system clock, proxy or certificates"
            )
        if isinstance(exc, requests.ConnectionError):
            tried = f" (tried {self.retries + 1} times)" if self.retries else ""
            return (
                f"cannot connect to {self.service} ({host}){tried}; check your internet "
                "connection or proxy, or try again later"
            )
        return f"the request to {self.service} ({host}) failed ({type(exc).__name__})"


def retry_after_text(value: str | None) -> str:
    """How long a Retry-After header asks to wait, in words ("an hour", "30 s", "a while")."""
    value = (value or "").strip()
    if value.isdigit():
        seconds = int(value)
        if seconds >= 3600:
            return f"about {seconds / 3600:.3g} h (the server's Retry-After)"
        if seconds >= 60:
            return f"about {seconds / 60:.3g} min (the server's Retry-After)"
        return f"{seconds} s (the server's Retry-After)"
    if value:
        return f"until {value[:40]} (the server's Retry-After)"
    return "a while (a few minutes to a day)"


def _shorten_socket_timeout(raw: Any, left: float, timeout: Timeout) -> None:
    """Let the next read block at most until the deadline (best effort: urllib3 2's socket)."""
    read = timeout[1] if isinstance(timeout, tuple) else timeout
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is not None:
        try:
            sock.settimeout(max(0.001, min(read, left)))
        except OSError:
            pass


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """True when kind is among exc's args, causes or urllib3 reasons."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        item = todo.pop()
        if id(item) in seen or not isinstance(item, BaseException):
            continue
        seen.add(id(item))
        if isinstance(item, kind):
            return True
        todo.extend(item.args)
        todo.extend([item.__cause__, item.__context__, getattr(item, "reason", None)])
    return False


class HTTPSource:
    """Base of the remote sources: one HTTPClient and a base URL that can be overridden.

    Subclasses set `service` (how messages name the remote side), `url_env` (the
    environment variable overriding the base URL) and `default_url`.
    `base_url_overridden` tells whether a base_url argument or url_env chose it.
    """

    service: str
    url_env: str
    default_url: str
    incremental = True

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        base_url: str | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff_factor: float = DEFAULT_BACKOFF,
        deadline: float | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self.base_url = resolve_base_url(base_url, self.url_env, self.default_url)
        self.base_url_overridden = bool(base_url or os.environ.get(self.url_env))
        self.http = HTTPClient(
            self.service, session=session, timeout=timeout, retries=retries, backoff_factor=backoff_factor,
            deadline=deadline, max_bytes=max_bytes,
        )
