"""Notification destinations: the allow-list, and addresses refused unless a network lists them."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest

from alerting.destinations import (
    AllowList,
    GuardedAdapter,
    IPAddress,
    address_class,
    guarded_session,
    refusal,
)
from alerting.notifiers.webhook import post
from config.loader import load_settings
from monitor.daemon import build_notifiers
from monitor.errors import ConfigError, NotifierError
from tests.fakes import T0, RecordingReceiver
from tests.monitor.test_daemon import config_yaml


def ips(*texts: str) -> list[IPAddress]:
    return [ipaddress.ip_address(t) for t in texts]


class FakeResolver:
    """Answers from a table, as a DNS server would; records every name asked."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append(host)
        return ips(*self.table[host])


class TestRefusal:
    @pytest.mark.parametrize(
        ("address", "kind"),
        [
            ("169.254.169.254", "a cloud metadata address"),
            ("fd00:ec2::254", "a cloud metadata address"),
            ("100.100.100.200", "a cloud metadata address"),
            ("169.254.10.1", "link-local"),
            ("fe80::1", "link-local"),
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "a cloud metadata address"),
            ("0.0.0.0", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("240.0.0.1", "reserved"),
        ],
    )
    def test_dangerous_addresses_are_refused_by_default(self, address: str, kind: str) -> None:
        """Metadata, link-local, loopback (also IPv4-mapped) and the like are refused, named."""
        [ip] = ips(address)
        assert address_class(ip) == kind
        reason = refusal("hooks.example", [ip], AllowList())
        assert reason is not None and kind in reason and "allowed_destinations" in reason

    @pytest.mark.parametrize("address", ["10.1.2.3", "192.168.0.9", "172.16.5.5", "8.8.8.8"])
    def test_private_and_public_addresses_pass_without_a_list(self, address: str) -> None:
        """Without an allow-list, ordinary private and public addresses are allowed."""
        assert refusal("hooks.example", ips(address), AllowList()) is None

    def test_a_listed_network_opens_a_refused_address(self) -> None:
        """127.0.0.1 listed: loopback is allowed, the metadata address still is not."""
        allow = AllowList.parse(["127.0.0.1"])
        assert refusal("localhost", ips("127.0.0.1"), allow) is None
        assert refusal("localhost", ips("127.0.0.2"), allow) is not None
        assert refusal("x", ips("169.254.169.254"), allow) is not None

    def test_a_listed_name_never_opens_a_refused_address(self) -> None:
        """A name on the list that resolves to the metadata service is still refused."""
        allow = AllowList.parse(["hooks.example.com"])
        assert refusal("hooks.example.com", ips("169.254.169.254"), allow) is not None

    def test_with_a_list_only_listed_names_and_networks_pass(self) -> None:
        """*.example.com matches names below it only; networks match by address."""
        allow = AllowList.parse(["*.example.com", "10.0.0.0/8", "Chat.Example.ORG."])
        assert refusal("hooks.example.com", ips("93.184.1.1"), allow) is None
        assert refusal("chat.example.org", ips("93.184.1.1"), allow) is None
        assert refusal("anything", ips("10.9.9.9"), allow) is None
        for host in ("example.com", "evil-example.com", "hooks.example.com.evil.net"):
            assert refusal(host, ips("93.184.1.1"), allow) == (
                f"{host} is not in delivery.allowed_destinations"
            )

    def test_every_address_of_a_name_must_pass(self) -> None:
        """A name with one good and one metadata address is refused."""
        assert refusal("two", ips("93.184.1.1", "169.254.169.254"), AllowList()) is not None

    @pytest.mark.parametrize("entry", ["", "a b", "hooks.*.com", "http://x", "*"])
    def test_bad_entries_fail_at_start_with_their_path(self, entry: str) -> None:
        """A malformed allow-list entry is a ConfigError at delivery -> allowed_destinations."""
        with pytest.raises(ConfigError) as caught:
            load_settings(text=f"delivery: {{allowed_destinations: [{entry!r}]}}")
        assert caught.value.problems[0][0] == "delivery -> allowed_destinations"


class TestGuardedSession:
    def test_a_refused_destination_is_never_contacted(self, receiver: RecordingReceiver) -> None:
        """A name resolving to loopback is refused before any request reaches the server."""
        resolver = FakeResolver({"hooks.example": ["127.0.0.1"]})
        session = guarded_session(AllowList(), resolver)
        port = receiver.url.split(":")[2].split("/")[0]
        with pytest.raises(NotifierError) as caught:
            post(session, f"http://hooks.example:{port}/secret-path", b"{}", {}, timedelta(1))
        assert not caught.value.retryable
        assert str(caught.value) == (
            "destination refused: hooks.example resolves to 127.0.0.1, loopback; "
            "list it in delivery.allowed_destinations to allow it"
        )
        assert "secret-path" not in str(caught.value)
        assert resolver.asked == ["hooks.example"] and receiver.received == []

    def test_an_allowed_destination_is_reached(self, receiver: RecordingReceiver) -> None:
        """127.0.0.1 listed: the same POST arrives."""
        session = guarded_session(AllowList.parse(["127.0.0.1/32"]))
        response = post(session, receiver.url, b"{}", {}, timedelta(seconds=5))
        assert response.status_code == 204 and len(receiver.received) == 1

    def test_the_daemons_notifiers_use_the_allow_list(self, receiver: RecordingReceiver) -> None:
        """Receivers built from settings refuse loopback (here by name) unless it is listed."""
        listed = load_settings(text=config_yaml({"ops": receiver.url}))
        build_notifiers(listed)["ops"].send("k1", "firing", b"{}", T0)
        by_name = receiver.url.replace("127.0.0.1", "localhost")  # passes the start-up check
        unlisted = load_settings(
            text=config_yaml({"ops": by_name}).replace(
                '  allowed_destinations: ["127.0.0.1"]\n', ""
            )
        )
        with pytest.raises(NotifierError, match="loopback"):
            build_notifiers(unlisted)["ops"].send("k2", "firing", b"{}", T0)
        assert [r.headers["webhook-id"] for r in receiver.received] == ["k1"]


class TestAtStart:
    @pytest.mark.parametrize(
        ("receiver", "field"),
        [
            ("{kind: webhook, name: w, url: 'http://169.254.169.254/latest/meta-data'}", "url"),
            ("{kind: slack, name: s, url: 'http://[::1]:8080/services/T/B/slackPLANTED'}", "url"),
            (
                "{kind: alertmanager, name: a, urls: ['http://am:9093', 'http://127.0.0.1:9093']}",
                "urls -> 1",
            ),
            ("{kind: pagerduty, name: p, routing_key: k, url: 'http://0.0.0.0/'}", "url"),
        ],
    )
    def test_a_refused_literal_address_fails_the_start(self, receiver: str, field: str) -> None:
        """A receiver URL naming a refused address is a ConfigError at its path, no URL."""
        with pytest.raises(ConfigError) as caught:
            load_settings(text=f"receivers: [{receiver}]")
        [(path, message)] = caught.value.problems
        assert path == f"receivers -> 0 -> {field}"
        assert "allowed_destinations" in message and "PLANTED" not in message

    def test_a_listed_network_or_a_name_passes_the_start(self) -> None:
        """Listed loopback passes; a name is left for the check at sending (no DNS here)."""
        text = (
            "delivery: {allowed_destinations: [127.0.0.1]}\n"
            "receivers: [{kind: webhook, name: w, url: 'http://127.0.0.1:9/x'},"
            " {kind: webhook, name: n, url: 'http://metadata.internal/x'}]"
        )
        assert len(load_settings(text=text).receivers) == 2


class RebindingResolver:
    """A DNS server that rebinds: its first answer, then another one for every later ask."""

    def __init__(self, first: str, later: str) -> None:
        self.answers = [first, later]
        self.asked = 0

    def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.asked += 1
        return ips(self.answers[0 if self.asked == 1 else 1])


class TestPinnedAddress:
    def test_the_connection_goes_to_the_checked_address_without_resolving_again(
        self, receiver: RecordingReceiver
    ) -> None:
        """The name resolves once, to the allowed 127.0.0.1; a second answer would be the
        metadata address. The POST reaches 127.0.0.1 (the name itself resolves nowhere:
        ``.test`` is reserved), carries the name in its Host header, and the resolver is
        asked once."""
        resolver = RebindingResolver("127.0.0.1", "169.254.169.254")
        session = guarded_session(AllowList.parse(["127.0.0.1"]), resolver)
        port = receiver.url.split(":")[2].split("/")[0]
        url = f"http://hooks.rebind.test:{port}/hook"
        response = post(session, url, b"{}", {}, timedelta(seconds=5))
        assert response.status_code == 204
        assert resolver.asked == 1
        [received] = receiver.received
        assert received.headers["Host"] == f"hooks.rebind.test:{port}"

    def test_each_request_is_checked_against_its_own_answer(
        self, receiver: RecordingReceiver
    ) -> None:
        """Once the name rebinds to the metadata address, the next request is refused
        before anything is sent, and the first address is not reused."""
        resolver = RebindingResolver("127.0.0.1", "169.254.169.254")
        session = guarded_session(AllowList.parse(["127.0.0.1"]), resolver)
        port = receiver.url.split(":")[2].split("/")[0]
        url = f"http://hooks.rebind.test:{port}/hook"
        post(session, url, b"{}", {}, timedelta(seconds=5))
        with pytest.raises(NotifierError, match="cloud metadata"):
            post(session, url, b"{}", {}, timedelta(seconds=5))
        assert resolver.asked == 2 and len(receiver.received) == 1

    def test_https_pins_the_address_and_keeps_the_name_for_sni_and_the_certificate(
        self,
    ) -> None:
        """The pool built for an https URL connects to the address and hands the URL's
        name to TLS (server_hostname: SNI; assert_hostname: the certificate check)."""
        import requests

        adapter = GuardedAdapter(AllowList(), FakeResolver({"hooks.example": ["203.0.113.7"]}))
        request = requests.Request("POST", "https://hooks.example:8443/h").prepare()
        adapter._pinned.target = ("hooks.example", ips("203.0.113.7")[0])
        pool = adapter.get_connection_with_tls_context(request, True)
        assert (pool.host, pool.port) == ("203.0.113.7", 8443)
        assert pool.conn_kw["server_hostname"] == "hooks.example"  # type: ignore[attr-defined]
        assert pool.assert_hostname == "hooks.example"  # type: ignore[attr-defined]
        assert request.headers["Host"] == "hooks.example:8443"
