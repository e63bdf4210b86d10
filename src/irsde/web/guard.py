"""Which requests the demo answers: its own host names, and no cross-site state changes.

A page on another site can make the browser send requests to a local server, and DNS
rebinding can make such a page's own name resolve to 127.0.0.1. So, as local notebook
servers do, every request's ``Host`` must be one of the names the demo is served on
(the loopback names, plus ``--host`` and ``--allow-host``), and a request that changes
state (POST, PUT, PATCH, DELETE) is refused when the browser says it comes from another
origin (``Origin`` not the served host, ``Sec-Fetch-Site`` neither ``same-origin`` nor
``none``). Clients that send neither header (curl, scripts) are not browsers on a
foreign page and are served.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

#: names under which a loopback server is reached
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
#: methods that change the server's state
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: ``Sec-Fetch-Site`` values of a request the user made on the demo's own page
SAME_SITE = ("same-origin", "none")
_DEFAULT_PORT = {"http": 80, "https": 443}


def host_names(extra: Iterable[str]) -> frozenset[str]:
    """The accepted ``Host`` names: the loopback ones and ``extra`` (``*``: any)."""
    return frozenset(LOOPBACK_NAMES) | {_name(h) for h in extra if h}


def _name(host: str) -> str:
    """``"[::1]"`` -> ``"::1"``, ``"Example.COM."`` -> ``"example.com"``."""
    return host.strip().strip("[]").rstrip(".").lower()


def split_host(value: str, scheme: str = "http") -> tuple[str, int | None]:
    """A ``Host`` header (``name[:port]``, IPv6 in brackets) -> ``(name, port)``."""
    value = value.strip()
    try:
        parts = urlsplit(f"//{value}")
        port = parts.port
    except ValueError:
        return _name(value), None
    return _name(parts.hostname or ""), port or _DEFAULT_PORT.get(scheme)


def refusal(method: str, headers: Mapping[str, str], allowed: frozenset[str]) -> str | None:
    """Why a request is refused (one line), or None when it may be served."""
    host = headers.get("host")
    if host is not None and "*" not in allowed:
        name = split_host(host)[0]
        if name not in allowed:
            return (
                f"host {name[:60]!r} is not served here (DNS rebinding?); "
                "start the server with --allow-host NAME to accept it"
            )
    if method.upper() not in UNSAFE_METHODS:
        return None
    site = headers.get("sec-fetch-site")
    if site is not None and site.lower() not in SAME_SITE:
        return f"cross-site request refused (Sec-Fetch-Site: {site[:20]})"
    origin = headers.get("origin")
    if origin is None:
        return None
    parts = urlsplit(origin.strip())
    if parts.scheme not in _DEFAULT_PORT or host is None:
        return f"cross-origin request refused (Origin: {origin[:60]})"
    if split_host(parts.netloc, parts.scheme) != split_host(host):
        return f"cross-origin request refused (Origin: {origin[:60]})"
    return None
