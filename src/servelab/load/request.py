"""What every request sends: the target URL, the method, extra headers, the body.

Pure and checked up front: a malformed URL, method or header is a ``LoadError`` before any
connection is opened, and the request's bytes are built once (``build_request``) and
written as they are by every mode (burst, closed and open loop).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from servelab.errors import LoadError

_REQUEST_TARGET = re.compile(r"[!-~]+")  # visible ASCII: what a request line's target may hold
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token: header names, methods
# Set by the client from the URL, the body and keep-alive; a user header would contradict them.
RESERVED_HEADERS = frozenset({"host", "content-length", "connection", "transfer-encoding"})
# The burst also sets the body's type itself, as the seed's script did: one JSON POST each.
BURST_RESERVED_HEADERS = RESERVED_HEADERS | {"content-type"}


@dataclass(frozen=True)
class Target:
    """Where requests go: a validated ``http://host[:port]/path?query`` URL."""

    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Target:
        """Validate ``url``; a ``LoadError`` says what is wrong with it."""
        try:
            parts = urlsplit(url.strip())
        except ValueError as error:  # e.g. "Invalid IPv6 URL" for http://[::1/x
            raise LoadError(f"malformed URL {url!r}: {error}") from None
        if parts.scheme != "http":
            raise LoadError(
                f"URL must start with http:// (got {url!r}); "
                "e.g. http://127.0.0.1:5000/predict?workload=io"
            )
        try:
            port = parts.port or 80
        except ValueError:
            raise LoadError(f"URL has an invalid port: {url!r}") from None
        if not parts.hostname:
            raise LoadError(f"URL has no host: {url!r}")
        if parts.username is not None:
            raise LoadError(
                f"URL has credentials, which are never sent: {parts.hostname}... give them as "
                "--header 'Authorization: ...' instead"
            )
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        if not _REQUEST_TARGET.fullmatch(path):
            # A space or a control character would break the request line (or add a header).
            raise LoadError(
                f"URL's path has a space, a control or a non-ASCII character: {url!r}; "
                "percent-encode it (a space is %20)"
            )
        return cls(host=parts.hostname, port=port, path=path)


def check_path(path: str) -> str:
    """``path`` if it is a request target a request line can carry (``/predict?x=1``)."""
    if not path.startswith("/"):
        raise LoadError(f"a path starts with '/', e.g. /predict, not {path!r}")
    if not _REQUEST_TARGET.fullmatch(path):
        raise LoadError(
            f"the path has a space, a control or a non-ASCII character: {path!r}; "
            "percent-encode it (a space is %20)"
        )
    return path


def default_area(index: int) -> int:
    """The seed's areas: 10, 20, ... 100, then again from 10."""
    return 10 * (index % 10 + 1)


@dataclass(frozen=True)
class RequestSpec:
    """What every request of a closed or open loop sends.

    ``body=None`` with POST sends the seed's ``{"area": a}`` bodies (areas 10, 20 ... 100 in
    turn); with another method, no body. ``bodies``, when given, are sent in turn instead
    (a ``RequestTemplate``'s), and ``body`` is ignored. ``headers`` are added to the engine's
    own.
    """

    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    bodies: Sequence[bytes | None] = ()

    def payloads(self) -> list[tuple[float, bytes | None]]:
        """(area, body) pairs to cycle through; area is 0 when the body is not the seed's."""
        if self.bodies:
            return [(0.0, body) for body in self.bodies]
        if self.body is None and self.method == "POST":
            return [(default_area(i), seed_body(default_area(i))) for i in range(10)]
        return [(0.0, self.body)]


def seed_body(area: float) -> bytes:
    """The seed's request body, ``{"area": <area>}``."""
    return json.dumps({"area": area}).encode()


def check_method(method: str) -> str:
    """``method`` if it is an HTTP token, else a ``LoadError``."""
    if not _TOKEN.fullmatch(method):
        raise LoadError(f"not a valid HTTP method: {method!r}")
    return method


def check_headers(
    headers: Mapping[str, str] | None, reserved: frozenset[str] = RESERVED_HEADERS
) -> dict[str, str]:
    """Validate extra request headers; a ``LoadError`` names a bad one (never its value).

    ``reserved``: lower-cased names the engine sets itself, refused here.
    """
    checked: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise LoadError(f"not a valid header name: {name!r}")
        if name.lower() in reserved:
            raise LoadError(f"header {name!r} is set by the load engine itself")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            # The value may be a secret (a token): name the header, never show the value.
            raise LoadError(f"header {name!r} has a value that is not one line of text")
        checked[name] = value
    return checked


def parse_header(text: str) -> tuple[str, str]:
    """``"Name: value"`` -> ``("Name", "value")``; a ``LoadError`` if it is not that shape."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise LoadError(f"a header must look like 'Name: value', not {text!r}")
    return name.strip(), value.strip()


def content_type_of(body: bytes) -> str:
    """``application/json`` for a body that parses as JSON, else ``application/octet-stream``."""
    try:
        json.loads(body)
    except ValueError:
        return "application/octet-stream"
    return "application/json"


def build_request(
    method: str,
    target: Target,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    keep_alive: bool = True,
) -> bytes:
    """The bytes of one request, ready to write. ``headers`` must be ``check_headers``'d.

    A body gets ``Content-Length`` and, unless ``headers`` has one, a ``Content-Type``:
    ``application/json`` when the body parses as JSON, else ``application/octet-stream``.
    """
    check_method(method)
    host = f"[{target.host}]" if ":" in target.host else target.host
    if target.port != 80:
        host = f"{host}:{target.port}"
    lines = [f"{method} {target.path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        if not any(name.lower() == "content-type" for name in headers):
            lines.append(f"Content-Type: {content_type_of(body)}")
        lines.append(f"Content-Length: {len(body)}")
    elif method in ("POST", "PUT", "PATCH"):
        lines.append("Content-Length: 0")
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + (body or b"")
