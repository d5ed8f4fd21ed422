"""Where a webhook may send: the server-side request forgery guard.

A webhook URL is an address the *server* connects to, chosen by whoever can
create webhooks; left unchecked it reaches the cloud metadata service
(``169.254.169.254``), the database port, or anything else on the server's
network. So:

* only the schemes the server allows (MLflow's default: ``https`` alone; the
  ``--webhooks-allowed-schemes`` and ``--gateway-api-base-allowed-schemes`` options,
  read from MLflow's ``MLFLOW_WEBHOOK_ALLOWED_SCHEMES`` and
  ``MLFLOW_GATEWAY_API_BASE_ALLOWED_SCHEMES``, may add ``http``), with a host,
  without ``user:password@``;
* an IP literal must be written canonically (``127.1``, ``0x7f.1``,
  ``2130706433`` and ``0177.0.0.1`` are refused: resolvers disagree on them);
* every address the host resolves to must be public (not loopback, private,
  link-local, CGNAT, multicast, reserved or unspecified; IPv4 wrapped in IPv6,
  6to4 and NAT64 are unwrapped first), unless the server runs with
  ``--webhooks-allow-private`` (local development and tests; MLflow's
  ``MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS`` for webhooks and
  ``MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS`` for the gateway are read too);
* the check runs when a webhook is saved and again before each request, and
  the request then goes to the address just checked (:func:`pinned_request`),
  so a DNS answer that changes in between (rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mltrail.entities.webhook import (
    DEFAULT_URL_SCHEMES,
    SUPPORTED_URL_SCHEMES,
    webhook_scheme_refused,
)
from mltrail.exceptions import invalid

WEBHOOK_LABEL = "Webhook URL"
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
IP = ipaddress.IPv4Address | ipaddress.IPv6Address


def _unwrapped(ip: IP) -> IP:
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is None and ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            return inner
    return ip


def is_public(ip: IP) -> bool:
    """Whether ``ip`` is an ordinary address on the public internet."""
    ip = _unwrapped(ip)
    return ip.is_global and not ip.is_multicast and not ip.is_reserved and not ip.is_unspecified


def _noun(label: str) -> str:
    """``"Webhook URL"`` inside a sentence: ``"webhook URL"``."""
    return label[:1].lower() + label[1:]


def _scheme_refused(label: str, scheme: str, schemes: Collection[str]) -> str:
    """MLflow's message for a refused scheme: two shapes, as its two validators word it."""
    if label == WEBHOOK_LABEL:  # _validate_webhook_url: the setting's order, names bare
        return webhook_scheme_refused(scheme, schemes)
    # _validate_public_https_url (the gateway's api_base): sorted, quoted, the label as written
    allowed = ", ".join(repr(s) for s in sorted(set(schemes)))
    return f"Invalid {label} scheme: {scheme!r}. Allowed schemes are: {allowed}."


def _split(
    url: Any, label: str = WEBHOOK_LABEL, schemes: Collection[str] = DEFAULT_URL_SCHEMES
) -> tuple[str, str, int | None]:
    if not isinstance(url, str) or not url.strip():
        raise invalid(f"{label} cannot be empty or just whitespace: {url!r}")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise invalid(f"{label} must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise invalid(f"Invalid {_noun(label)} {url!r}: {err}") from None
    scheme = parts.scheme.lower()
    # Never beyond what the client speaks, whatever a caller passes.
    if scheme not in schemes or scheme not in SUPPORTED_URL_SCHEMES:
        raise invalid(_scheme_refused(label, scheme, schemes))
    if parts.username is not None or parts.password is not None:
        raise invalid(f"{label} must not include embedded credentials")
    host = parts.hostname
    if not host:
        raise invalid(f"{label} must include a hostname: {url!r}")
    if ":" in host or host.replace(".", "").isdigit() or host.lower().startswith("0x"):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise invalid(f"{label} host {host!r} is not a canonical IP address literal.") from None
    return scheme, host, port


def _addresses(host: str, port: int | None, label: str = WEBHOOK_LABEL) -> list[IP]:
    try:
        return [ipaddress.ip_address(host.split("%")[0])]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as err:
        raise invalid(f"Cannot resolve {_noun(label)} hostname {host!r}: {err}") from None
    found: list[IP] = []
    for info in infos:
        try:
            ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        except ValueError:
            raise invalid(f"{label} hostname {host!r} resolved to an invalid address") from None
        if ip not in found:
            found.append(ip)
    if not found:
        raise invalid(f"Cannot resolve {_noun(label)} hostname {host!r}")
    return found


def check_url(
    url: Any,
    allow_private: bool,
    label: str = WEBHOOK_LABEL,
    *,
    schemes: Collection[str] = DEFAULT_URL_SCHEMES,
) -> str:
    """``url`` if the server may send to it, else 400 ``INVALID_PARAMETER_VALUE`` saying why.

    ``label`` names the setting in messages (webhook URLs, the AI gateway's ``api_base``);
    ``schemes`` are the ones the server allows for it (MLflow's default: ``https`` alone).
    """
    _, host, port = _split(url, label, schemes)
    if not allow_private:
        # MLflow's variable for the setting the label names: webhooks', else the gateway's.
        env = (
            "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"
            if label == WEBHOOK_LABEL
            else "MLFLOW_GATEWAY_API_BASE_ALLOW_PRIVATE_IPS"
        )
        for ip in _addresses(host, port, label):
            if not is_public(ip):
                raise invalid(
                    f"{label} must not resolve to a non-public IP address. {host!r} resolves to {ip}. "
                    "Private and loopback targets need the server option --webhooks-allow-private "
                    f"(or {env}=true)."
                )
    return url


def pinned_request(
    url: str,
    allow_private: bool,
    label: str = WEBHOOK_LABEL,
    *,
    schemes: Collection[str] = DEFAULT_URL_SCHEMES,
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The URL to connect to (the checked address), the ``Host`` header, and httpx extensions (TLS name).

    Raises 400 ``INVALID_PARAMETER_VALUE`` when the target is refused (see :func:`check_url`): a
    URL saved while its scheme was allowed is refused once the setting no longer allows it.
    """
    scheme, host, port = _split(url, label, schemes)
    addresses = _addresses(host, port, label)
    if not allow_private:
        bad = [ip for ip in addresses if not is_public(ip)]
        if bad:
            raise invalid(
                f"{label} must not resolve to a non-public IP address. {host!r} resolves to {bad[0]}."
            )
    # IPv4 first: it is what most receivers listen on; the Host header and TLS name stay the URL's.
    ip = sorted(addresses, key=lambda a: a.version)[0]
    parts = urlsplit(url)
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{literal}:{port}" if port else literal
    pinned = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = parts.netloc.rpartition("@")[2]
    extensions = {"sni_hostname": host} if scheme == "https" else {}
    return pinned, {"Host": host_header}, extensions
