"""Where notifications may go: an optional allow-list, and addresses never reached unasked.

Every notifier's requests go through :class:`GuardedAdapter`, which resolves the
destination's host and checks each address before anything is sent:

- an address inside a network of ``delivery.allowed_destinations`` is allowed;
- otherwise loopback, link-local (which holds the cloud metadata services), unspecified,
  multicast and reserved addresses, and the known metadata addresses outside link-local,
  are refused, whatever the host's name;
- otherwise, when the allow-list is not empty, the host must match one of its names
  (``hooks.example.com``, or ``*.example.com`` for any name below it).

Private networks (10/8, 172.16/12, 192.168/16, fc00::/7) are allowed without listing:
receivers inside the cluster are common. A name entry never opens a refused address,
since whoever controls that name's DNS could point it at the metadata service.

The name is resolved once per request, and the connection goes to the first address of
that very answer (the *pinned* address): the URL's host still names the ``Host`` header,
the TLS server name (SNI) and the name the certificate must match, but no second
resolution happens, so a DNS server that answers an allowed address to the check and
another one to the connection (rebinding) cannot steer a notification elsewhere. A
request sent through a proxy (``HTTPS_PROXY`` and the like) is resolved by the proxy,
not here: the check still runs, the pinning cannot; egress rules in the network remain
the stronger control.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.connectionpool import ConnectionPool

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[IPAddress]]

METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6 (a unique-local, i.e. "private", address)
        "100.100.100.200",  # Alibaba Cloud (shared address space)
    )
)
SETTING = "delivery.allowed_destinations"


class DestinationRefused(requests.RequestException):
    """A notification's destination is not allowed; the message says why (no URL in it)."""


@dataclass(frozen=True)
class AllowList:
    """``delivery.allowed_destinations`` split into host names and networks."""

    names: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Sequence[str]) -> AllowList:
        """Networks (``10.1.0.0/16``, ``127.0.0.1``) and names (``*.example.com``).

        Raises:
            ValueError: an entry that is neither.
        """
        names, networks = [], []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                names.append(_host_pattern(entry))
        return cls(tuple(names), tuple(networks))

    @property
    def empty(self) -> bool:
        return not self.names and not self.networks

    def names_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(
            host == name or (name.startswith("*.") and host.endswith(name[1:]))
            for name in self.names
        )


def _host_pattern(entry: str) -> str:
    name = entry.lower().rstrip(".")
    if not name or not all(c.isalnum() or c in ".-*" for c in name):
        raise ValueError(f"{entry!r} is neither a network nor a host name")
    if "*" in name.removeprefix("*."):
        raise ValueError(f"{entry!r}: '*' only as the first label, '*.example.com'")
    return name


def address_class(address: IPAddress) -> str | None:
    """Why an address is refused unless listed (None: an ordinary address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA:
        return "a cloud metadata address"
    for attribute in ("loopback", "link_local", "unspecified", "multicast", "reserved"):
        if getattr(address, f"is_{attribute}"):
            return attribute.replace("_", "-")
    return None


def refusal(host: str, addresses: Sequence[IPAddress], allow: AllowList) -> str | None:
    """Why ``host`` (resolving to ``addresses``) may not be sent to; None when it may."""
    for address in addresses:
        if any(address in network for network in allow.networks):
            continue
        kind = address_class(address)
        if kind is not None:
            return f"{host} resolves to {address}, {kind}; list it in {SETTING} to allow it"
        if not allow.empty and not allow.names_host(host):
            return f"{host} is not in {SETTING}"
    return None


def literal_refusal(url: str, allow: AllowList) -> str | None:
    """:func:`refusal` for a URL whose host is an IP address (names wait for sending:
    no DNS at start-up); None for a name or an allowed address."""
    host = urlsplit(url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return refusal(host, [address], allow)


def configured_urls(receiver: object) -> list[tuple[str, str]]:
    """``(field, url)`` of every destination a receiver's configuration names."""
    found = []
    for name in ("url", "urls"):
        value = getattr(receiver, name, None)
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            if item is None:
                continue
            text = item.get_secret_value() if hasattr(item, "get_secret_value") else str(item)
            found.append((f"{name} -> {i}" if isinstance(value, list) else name, text))
    return found


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (a literal address: itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise requests.ConnectionError("the destination's name did not resolve") from None
    return [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]


class GuardedAdapter(HTTPAdapter):
    """A requests transport adapter that refuses destinations :func:`refusal` refuses and
    connects to the address it checked (pinned), never to a second resolution."""

    def __init__(self, allow: AllowList, resolver: Resolver = resolve) -> None:
        super().__init__()
        self.allow = allow
        self.resolver = resolver
        self._pinned = threading.local()

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(request.url or "")
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = self.resolver(host, port)
        reason = refusal(host, addresses, self.allow)
        if reason is not None:
            raise DestinationRefused(reason)
        if not addresses:
            raise requests.ConnectionError("the destination's name did not resolve")
        self._pinned.target = (host, addresses[0])
        try:
            return super().send(request, *args, **kwargs)
        finally:
            self._pinned.target = None

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: bool | str | None,
        proxies: Mapping[str, str] | None = None,
        cert: tuple[str, str] | str | None = None,
    ) -> ConnectionPool:
        """A pool for the pinned address; the host name goes to SNI and the certificate
        check. Through a proxy: the proxy's pool, as requests builds it."""
        target = getattr(self._pinned, "target", None)
        if target is None or select_proxy(request.url or "", dict(proxies or {})):
            return super().get_connection_with_tls_context(
                request, verify, proxies=proxies, cert=cert
            )
        host, address = target
        checked = True if verify is None else verify
        params, key = self.build_connection_pool_key_attributes(request, checked, cert)
        pool_kwargs: dict[str, Any] = dict(key)
        if params["scheme"] == "https":
            pool_kwargs.update(server_hostname=host, assert_hostname=host)
        # The Host header names the URL's host, not the address connected to.
        netloc = urlsplit(request.url or "").netloc.rpartition("@")[2]
        request.headers.setdefault("Host", netloc)
        pinned: ConnectionPool = self.poolmanager.connection_from_host(
            host=str(address), port=params["port"], scheme=params["scheme"], pool_kwargs=pool_kwargs
        )
        return pinned


def guarded_session(allow: AllowList, resolver: Resolver = resolve) -> requests.Session:
    """A session whose every http(s) request is checked against ``allow`` first."""
    session = requests.Session()
    adapter = GuardedAdapter(allow, resolver)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
