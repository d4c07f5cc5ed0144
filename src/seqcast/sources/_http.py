"""HTTP plumbing shared by the remote sources: session, retries, timeouts, errors.

Every request has a (connect, read) timeout. Connection errors and 5xx answers
are retried with backoff by urllib3's Retry; 4xx answers and read timeouts are
not (they would only repeat). requests' exceptions become DownloadError with a
message naming the host, what failed and what to do; secrets such as stooq's
apikey are never part of a message (see redact_url).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util import Retry

from seqcast.errors import ConfigError, DownloadError

Timeout = float | tuple[float, float]

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
"""Seconds to connect and to wait between bytes of the answer."""
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.5
"""urllib3 backoff factor: waits of about 0, 1, 2 s between the retries."""
RETRY_STATUSES = (500, 502, 503, 504)
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
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        origin = "base_url" if base_url else env_var if os.environ.get(env_var) else "default"
        raise ConfigError(
            f"{origin} {url!r} is not an http(s) URL; use e.g. {default}"
        )
    return url


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
    text = scrub(text, secrets)
    return text[:limit] + ("..." if len(text) > limit else "")


class HTTPClient:
    """GET with timeouts, retries and DownloadError instead of requests' exceptions.

    Args:
        service: how messages name the remote side ("stooq", "the ECB", "NBP").
        session: a requests.Session to use as is (no retry adapter is mounted
            on it); by default one with retries is made.
    """

    def __init__(
        self,
        service: str,
        *,
        session: requests.Session | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff_factor: float = DEFAULT_BACKOFF,
    ) -> None:
        self.service = service
        self.session = session or make_session(retries=retries, backoff_factor=backoff_factor)
        self.timeout = timeout
        self.retries = retries if session is None else 0

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """GET url; any failure to get an answer raises DownloadError."""
        all_headers = {"User-Agent": user_agent(), **(headers or {})}
        try:
            response = self.session.get(
                url, params=params, headers=all_headers, timeout=self.timeout
            )
            response.content  # read the body here so a broken transfer is caught  # noqa: B018
        except requests.RequestException as exc:
            raise DownloadError(self._describe(exc, url)) from exc
        return response

    def raise_for_status(self, response: requests.Response, secrets: Iterable[str] = ()) -> None:
        """DownloadError for any answer other than 2xx, with status and a next step."""
        if response.ok:
            return
        host = host_of(response.url)
        status = f"HTTP {response.status_code} {response.reason or ''}".strip()
        if response.status_code in RETRY_STATUSES:
            tried = f", also after {self.retries} retries" if self.retries else ""
            raise DownloadError(
                f"{self.service} ({host}) answered {status}{tried}: the service has a "
                "problem; try again later"
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
    ) -> None:
        self.base_url = resolve_base_url(base_url, self.url_env, self.default_url)
        self.base_url_overridden = bool(base_url or os.environ.get(self.url_env))
        self.http = HTTPClient(
            self.service, session=session, timeout=timeout, retries=retries, backoff_factor=backoff_factor,
        )
