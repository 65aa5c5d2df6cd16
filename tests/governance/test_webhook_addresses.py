"""Webhook endpoints may only name public addresses: the server sends where a user says (SSRF).

Delivery resolves an endpoint's host once, checks every address, and connects to the address it
checked (no second lookup a DNS rebinding could answer differently); refusals never say what an
internal name resolves to.
"""

import datetime
import socket
import ssl

import pytest
from django.core.exceptions import ValidationError

from governance.choices import NotificationChannel, NotificationStatus
from governance.services import delivery, pinned_http, webhooks
from tests.factories import NotificationFactory, WebhookEndpointFactory
from tests.worker import WebhookReceiver

NON_PUBLIC = [
    "http://127.0.0.1:8000/hook",
    "http://localhost/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[::1]/hook",
    "http://0.0.0.0/hook",
]


@pytest.fixture
def production_addresses(settings):
    settings.VERITY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False


@pytest.mark.parametrize("url", NON_PUBLIC)
def test_it_refuses_endpoints_at_non_public_addresses(production_addresses, engineer, url):
    with pytest.raises(ValidationError) as error:
        webhooks.create_webhook_endpoint(actor=engineer, name="Inside", url=url, kinds=[])
    assert "does not resolve to a public address" in error.value.message_dict["url"][0]


def test_it_accepts_a_public_address_and_refuses_moving_an_endpoint_inside(production_addresses, engineer):
    endpoint, _ = webhooks.create_webhook_endpoint(
        actor=engineer, name="Public", url="https://93.184.215.14/hook", kinds=[]
    )
    with pytest.raises(ValidationError) as error:
        webhooks.update_webhook_endpoint(
            actor=engineer, endpoint=endpoint, changes={"url": "http://169.254.169.254/"}
        )
    assert "url" in error.value.message_dict
    endpoint.refresh_from_db()
    assert endpoint.url == "https://93.184.215.14/hook"


@pytest.mark.django_db
def test_delivery_checks_the_address_again_and_sends_nothing_inside(settings):
    with WebhookReceiver() as receiver:
        endpoint = WebhookEndpointFactory(url=receiver.url("/hook"))
        row = NotificationFactory(
            channel=NotificationChannel.WEBHOOK,
            endpoint=endpoint,
            recipient=None,
            status=NotificationStatus.PENDING,
            sent_at=None,
            next_attempt_at=datetime.datetime(2026, 3, 2, tzinfo=datetime.UTC),
        )
        settings.VERITY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False  # as if DNS had moved the name inside
        delivery.deliver(row.pk)
        assert receiver.received == []
    row.refresh_from_db()
    assert row.status == NotificationStatus.DEAD
    assert "does not resolve to a public address" in row.last_error


def _info(address: str, port: int) -> tuple:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))


def test_a_name_that_resolves_inside_is_refused_without_saying_where(production_addresses, engineer):
    with pytest.raises(ValidationError) as error:
        webhooks.create_webhook_endpoint(
            actor=engineer, name="Inside", url="http://localhost:8000/", kinds=[]
        )

    message = error.value.message_dict["url"][0]
    assert message == "The host 'localhost' is not allowed: it does not resolve to a public address."
    assert "127.0.0.1" not in message and "::1" not in message


def test_every_address_a_name_resolves_to_is_checked(production_addresses):
    def resolve(host, port, **kwargs):  # one public and one private address, as a rebinder answers
        return [_info("93.184.215.14", port), _info("10.0.0.7", port)]

    with pytest.raises(webhooks.AddressRefused) as refused:
        webhooks.pinned_addresses("https://hooks.example.com/in", resolve=resolve)

    assert "10.0.0.7" not in refused.value.message
    assert not refused.value.unresolved


@pytest.mark.parametrize("address", ["::ffff:10.0.0.7", "224.0.0.251", "100.64.0.1", "fe80::1"])
def test_mapped_multicast_shared_and_link_local_addresses_are_not_public(production_addresses, address):
    with pytest.raises(webhooks.AddressRefused):
        webhooks.pinned_addresses(
            "https://hooks.example.com/", resolve=lambda host, port, **kw: [_info(address, port)]
        )


def test_the_checked_public_addresses_are_the_ones_returned(production_addresses):
    addresses = webhooks.pinned_addresses(
        "https://hooks.example.com:8443/in",
        resolve=lambda host, port, **kw: [_info("2606:2800:21f:cb07::1", port), _info("93.184.215.14", port)],
    )
    assert addresses == ("2606:2800:21f:cb07::1", "93.184.215.14")


class _Rebinder:
    """Answers a name with the receiver's address once, and with nothing usable afterwards: a
    second lookup by the HTTP library would fail the delivery."""

    def __init__(self, name: str):
        self.name = name
        self.lookups = 0
        self._real = socket.getaddrinfo

    def __call__(self, host, port, *args, **kwargs):
        if host != self.name:
            return self._real(host, port, *args, **kwargs)
        self.lookups += 1
        if self.lookups > 1:
            raise socket.gaierror(socket.EAI_NONAME, "rebound")
        return [_info("127.0.0.1", port)]


@pytest.mark.django_db
def test_delivery_connects_to_the_address_it_checked_and_keeps_the_host_name(monkeypatch):
    rebinder = _Rebinder("hooks.verity.test")
    monkeypatch.setattr(socket, "getaddrinfo", rebinder)
    with WebhookReceiver() as receiver:
        port = receiver.server.server_port
        row = NotificationFactory(
            channel=NotificationChannel.WEBHOOK,
            endpoint=WebhookEndpointFactory(url=f"http://hooks.verity.test:{port}/pinned"),
            recipient=None,
            status=NotificationStatus.PENDING,
            sent_at=None,
            next_attempt_at=datetime.datetime(2026, 3, 2, tzinfo=datetime.UTC),
        )

        assert delivery.deliver(row.pk) == "sent"

        (request,) = receiver.to("/pinned")
    assert request.headers["Host"] == f"hooks.verity.test:{port}"
    assert rebinder.lookups == 1


@pytest.mark.django_db
def test_a_name_that_does_not_resolve_is_retried(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _Rebinder("gone.verity.test"))
    socket.getaddrinfo("gone.verity.test", 80)  # its one good answer is used up
    row = NotificationFactory(
        channel=NotificationChannel.WEBHOOK,
        endpoint=WebhookEndpointFactory(url="https://gone.verity.test/hook"),
        recipient=None,
        status=NotificationStatus.PENDING,
        sent_at=None,
        next_attempt_at=datetime.datetime(2026, 3, 2, tzinfo=datetime.UTC),
    )

    assert delivery.deliver(row.pk) == "failed"

    row.refresh_from_db()
    assert row.last_error == "Webhook not reached: The host 'gone.verity.test' does not resolve."


def test_a_pinned_connection_tries_the_next_checked_address_when_one_does_not_answer():
    with WebhookReceiver() as receiver:  # listens on 127.0.0.1 only; 127.0.0.2 refuses
        port = receiver.server.server_port
        opener = pinned_http.pinned_opener(["127.0.0.2", "127.0.0.1"])

        with opener.open(f"http://hooks.verity.test:{port}/second", data=b"{}", timeout=2) as response:
            assert response.status == 200

        (request,) = receiver.to("/second")
    assert request.headers["Host"] == f"hooks.verity.test:{port}"


class _RecordingContext(ssl.SSLContext):
    """A TLS context that records what a handshake would verify, then stops the connection."""

    def __new__(cls):
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)

    def __init__(self):
        self.handshakes = []

    def wrap_socket(self, sock, server_hostname=None, **kwargs):
        self.handshakes.append((sock.getpeername()[:2], server_hostname))
        sock.close()
        raise ssl.SSLCertVerificationError("recorded")


def test_https_to_a_pinned_address_names_the_original_host_for_sni_and_the_certificate():
    context = _RecordingContext()
    with WebhookReceiver() as receiver:
        port = receiver.server.server_port
        opener = pinned_http.pinned_opener(["127.0.0.1"], context=context)

        with pytest.raises(OSError):
            opener.open(f"https://hooks.example.com:{port}/tls", timeout=2)

    assert context.handshakes == [(("127.0.0.1", port), "hooks.example.com")]


def test_https_checks_the_certificate_by_default():
    (handler,) = [h for h in pinned_http.pinned_opener(["127.0.0.1"]).handlers if hasattr(h, "https_open")]
    assert handler._context.verify_mode == ssl.CERT_REQUIRED
    assert handler._context.check_hostname is True
