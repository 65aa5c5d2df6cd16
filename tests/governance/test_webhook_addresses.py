"""Webhook endpoints may only name public addresses: the server sends where a user says (SSRF)."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from governance.choices import NotificationChannel, NotificationStatus
from governance.services import delivery, webhooks
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
    assert "not a public address" in error.value.message_dict["url"][0]


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
    assert "not a public address" in row.last_error
