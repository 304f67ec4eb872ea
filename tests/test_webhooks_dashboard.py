"""The webhooks pages under /m/<merchant>/webhooks/: Alice (owner) configures, Bob (viewer) reads
and is refused every change (403, nothing changed), Charlie (outsider) gets 404; secrets are
shown once; replay makes a manual attempt to a real local server."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.test.utils import override_settings

from accounts.models import AuditEvent
from referral_saas import tenancy
from tests.conftest import World, login
from tests.webhook_receiver import Receiver, receiver
from webhooks.delivery import outbox_record as emit
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.services import endpoint_create

__all__ = ["receiver"]


def _base(world: World) -> str:
    return f"/m/{world.acme.slug}/webhooks/"


def _acme_endpoint(world: World, url: str) -> WebhookEndpoint:
    with tenancy.merchant_context(world.acme):
        return endpoint_create(url=url, description="Order system")


def _acme_delivery(world: World) -> WebhookDelivery:
    """A delivery waiting for its first attempt (the test holds the task back)."""
    with tenancy.merchant_context(world.acme):
        message = emit("reward.issued", {"id": "rwd_1"})
        return WebhookDelivery.objects.get(message=message)


def _endpoint_state(world: World, endpoint: WebhookEndpoint) -> tuple[Any, ...]:
    with tenancy.merchant_context(world.acme):
        row = WebhookEndpoint.objects.get(pk=endpoint.pk)
        return (row.secret, row.enabled, tuple(row.events), row.description)


def test_a_viewer_reads_the_pages_but_sees_no_secret_and_no_controls(
    client: Client, world: World, receiver: Receiver
) -> None:
    endpoint = _acme_endpoint(world, receiver.url)
    delivery = _acme_delivery(world)
    login(client, world.bob)

    listing = client.get(_base(world))
    detail = client.get(f"{_base(world)}endpoints/{endpoint.public_id}/")
    one = client.get(f"{_base(world)}deliveries/{delivery.public_id}/")

    assert [listing.status_code, detail.status_code, one.status_code] == [200, 200, 200]
    for page in (listing, detail, one):
        html = page.content.decode()
        assert endpoint.secret not in html
        assert "Add endpoint" not in html
        assert "Rotate" not in html
        assert "Replay now" not in html
    assert receiver.url in listing.content.decode()
    assert endpoint.secret_prefix in listing.content.decode()
    assert "reward.issued" in detail.content.decode()
    assert "&quot;id&quot;: &quot;rwd_1&quot;" in one.content.decode()  # the payload, escaped


@pytest.mark.parametrize(
    "action",
    ["new/", "rotate/", "delete/", "disable/", "enable/", "update/", "replay/", "recover/"],
)
def test_a_viewer_cannot_change_anything(
    client: Client, world: World, receiver: Receiver, action: str
) -> None:
    endpoint = _acme_endpoint(world, receiver.url)
    delivery = _acme_delivery(world)
    before = _endpoint_state(world, endpoint)
    login(client, world.bob)
    path = {
        "new/": f"{_base(world)}new/",
        "replay/": f"{_base(world)}deliveries/{delivery.public_id}/replay/",
    }.get(action, f"{_base(world)}endpoints/{endpoint.public_id}/{action}")

    response = client.post(
        path, {"url": receiver.url, "grace_hours": "0", "events": ["reward.voided"]}
    )

    assert response.status_code == 403
    assert _endpoint_state(world, endpoint) == before
    assert receiver.requests == []
    with tenancy.merchant_context(world.acme):
        assert WebhookEndpoint.objects.count() == 1
        assert WebhookAttempt.objects.count() == 0
        assert not AuditEvent.objects.filter(actor_user=world.bob).exists()


def test_an_outsider_gets_404_like_for_nothing(
    client: Client, world: World, receiver: Receiver
) -> None:
    endpoint = _acme_endpoint(world, receiver.url)
    delivery = _acme_delivery(world)
    login(client, world.charlie)
    theirs = [
        _base(world),
        f"{_base(world)}endpoints/{endpoint.public_id}/",
        f"{_base(world)}deliveries/{delivery.public_id}/",
    ]
    # Charlie's own merchant with Acme's ids: not found either.
    crossed = [
        f"/m/{world.globex.slug}/webhooks/endpoints/{endpoint.public_id}/",
        f"/m/{world.globex.slug}/webhooks/deliveries/{delivery.public_id}/",
    ]
    for path in theirs + crossed:
        assert client.get(path).status_code == 404, path
    replay = client.post(f"/m/{world.globex.slug}/webhooks/deliveries/{delivery.public_id}/replay/")
    rotate = client.post(f"/m/{world.globex.slug}/webhooks/endpoints/{endpoint.public_id}/rotate/")
    assert (replay.status_code, rotate.status_code) == (404, 404)
    assert receiver.requests == []
    assert _endpoint_state(world, endpoint)[0] == endpoint.secret


def test_an_owner_creates_an_endpoint_and_sees_its_secret_once(
    client: Client, world: World, receiver: Receiver
) -> None:
    login(client, world.alice)

    response = client.post(
        f"{_base(world)}new/",
        {
            "url": receiver.url,
            "description": "Order system",
            "events": ["reward.issued", "reward.voided"],
        },
    )

    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    with tenancy.merchant_context(world.acme):
        endpoint = WebhookEndpoint.objects.get()
        assert endpoint.events == ["reward.issued", "reward.voided"]
        assert endpoint.description == "Order system"
        assert AuditEvent.objects.filter(
            action="webhook_endpoint.created", actor_user=world.alice
        ).exists()
    assert endpoint.secret in response.content.decode()
    # ...and never again.
    assert endpoint.secret not in client.get(_base(world)).content.decode()
    detail = client.get(f"{_base(world)}endpoints/{endpoint.public_id}/")
    assert endpoint.secret not in detail.content.decode()


@override_settings(WEBHOOKS_ALLOW_PRIVATE_TARGETS=False)
def test_creating_an_endpoint_on_a_private_address_is_refused_with_the_reason(
    client: Client, world: World
) -> None:
    login(client, world.alice)

    response = client.post(f"{_base(world)}new/", {"url": "https://10.0.0.8/hooks"})

    assert response.status_code == 400
    assert "non-public" in response.content.decode()
    with tenancy.merchant_context(world.acme):
        assert WebhookEndpoint.objects.count() == 0


def test_an_owner_rotates_the_secret_and_sees_the_new_one_once(
    client: Client, world: World, receiver: Receiver
) -> None:
    endpoint = _acme_endpoint(world, receiver.url)
    login(client, world.alice)

    response = client.post(
        f"{_base(world)}endpoints/{endpoint.public_id}/rotate/", {"grace_hours": "24"}
    )

    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    with tenancy.merchant_context(world.acme):
        rotated = WebhookEndpoint.objects.get(pk=endpoint.pk)
    assert rotated.secret != endpoint.secret
    assert rotated.previous_secret == endpoint.secret
    html = response.content.decode()
    assert rotated.secret in html
    assert endpoint.secret not in html
    assert "The previous secret also signs until" in html


def test_an_owner_changes_the_events_disables_enables_and_deletes(
    client: Client, world: World, receiver: Receiver
) -> None:
    endpoint = _acme_endpoint(world, receiver.url)
    login(client, world.alice)
    base = f"{_base(world)}endpoints/{endpoint.public_id}/"

    assert client.post(f"{base}update/", {"events": ["reward.voided"]}).status_code == 302
    assert _endpoint_state(world, endpoint)[2:] == (("reward.voided",), "")
    bad = client.post(f"{base}update/", {"events": ["reward.teleported"]})
    assert bad.status_code == 400
    assert _endpoint_state(world, endpoint)[2] == ("reward.voided",)

    assert client.post(f"{base}disable/").status_code == 302
    assert _endpoint_state(world, endpoint)[1] is False
    page = client.get(base).content.decode()
    assert "Disabled by alice@example.com." in page
    assert client.post(f"{base}enable/").status_code == 302
    assert _endpoint_state(world, endpoint)[1] is True

    assert client.post(f"{base}delete/").status_code == 302
    with tenancy.merchant_context(world.acme):
        assert WebhookEndpoint.objects.count() == 0
        actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "webhook_endpoint.updated",
        "webhook_endpoint.disabled",
        "webhook_endpoint.enabled",
        "webhook_endpoint.deleted",
    } <= actions


def test_replay_from_the_dashboard_makes_a_manual_attempt(
    client: Client, world: World, receiver: Receiver
) -> None:
    endpoint = _acme_endpoint(world, receiver.url)
    delivery = _acme_delivery(world)
    login(client, world.alice)

    response = client.post(f"{_base(world)}deliveries/{delivery.public_id}/replay/", follow=True)

    assert response.status_code == 200
    assert "Sent again: the endpoint answered 200." in response.content.decode()
    assert len(receiver.requests) == 1
    assert receiver.requests[0].headers["webhook-id"] == delivery.message.public_id
    with tenancy.merchant_context(world.acme):
        attempt = WebhookAttempt.objects.get(delivery=delivery)
        assert (attempt.manual, attempt.status_code) == (True, 200)
        assert WebhookDelivery.objects.get(pk=delivery.pk).status == "succeeded"
        assert AuditEvent.objects.filter(
            action="webhook_delivery.replayed", actor_user=world.alice
        ).exists()
    page = client.get(f"{_base(world)}deliveries/{delivery.public_id}/").content.decode()
    assert "Replay" in page
    assert "HTTP 200" in page
    assert endpoint.url in page


def test_replaying_every_failed_delivery_of_an_endpoint(
    client: Client, world: World, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    endpoint = _acme_endpoint(world, receiver.url)
    failed = [_acme_delivery(world) for _ in range(3)]
    waiting = _acme_delivery(world)
    with tenancy.merchant_context(world.acme):
        WebhookDelivery.objects.filter(pk__in=[d.pk for d in failed]).update(status="failed")
    login(client, world.alice)
    path = f"{_base(world)}endpoints/{endpoint.public_id}/recover/"

    with django_capture_on_commit_callbacks(execute=True):  # the replays are queued tasks
        response = client.post(path, follow=True)

    assert "Replaying 3 failed deliveries" in response.content.decode()
    assert sorted(r.headers["webhook-id"] for r in receiver.requests) == sorted(
        d.message.public_id for d in failed
    )
    with tenancy.merchant_context(world.acme):
        assert set(
            WebhookDelivery.objects.filter(pk__in=[d.pk for d in failed]).values_list(
                "status", flat=True
            )
        ) == {"succeeded"}
        assert WebhookDelivery.objects.get(pk=waiting.pk).attempts == 0  # pending: not touched
        assert WebhookAttempt.objects.filter(manual=True).count() == 3
        event = AuditEvent.objects.get(action="webhook_endpoint.recovered")
        assert event.data == {"deliveries": 3}
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(path, follow=True)
    assert "There are no failed deliveries to replay." in again.content.decode()
    assert len(receiver.requests) == 3


def test_replay_to_a_disabled_endpoint_is_refused_with_a_message(
    client: Client, world: World, receiver: Receiver
) -> None:
    endpoint = _acme_endpoint(world, receiver.url)
    delivery = _acme_delivery(world)
    with tenancy.merchant_context(world.acme):
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
    login(client, world.alice)

    response = client.post(f"{_base(world)}deliveries/{delivery.public_id}/replay/", follow=True)

    assert "This endpoint is disabled. Enable it, then replay." in response.content.decode()
    assert receiver.requests == []


def test_the_delivery_log_filters_by_status_and_pins_its_queries(
    client: Client, world: World, receiver: Receiver, django_assert_num_queries: Any
) -> None:
    endpoint = _acme_endpoint(world, receiver.url)
    for _ in range(30):
        _acme_delivery(world)
    with tenancy.merchant_context(world.acme):
        WebhookDelivery.objects.filter(pk__in=WebhookDelivery.objects.values("pk")[:5]).update(
            status="failed"
        )
    login(client, world.alice)
    path = f"{_base(world)}endpoints/{endpoint.public_id}/"
    client.get(path)  # warm the session

    # session, user, merchant, membership, endpoint, count, the page with its messages, and
    # the merchant switcher of the layout
    with django_assert_num_queries(8):
        page = client.get(path)
    failed = client.get(f"{path}?status=failed")

    assert page.content.decode().count("data-delivery=") == 30
    assert failed.content.decode().count("data-delivery=") == 5


def test_the_nav_links_to_the_webhooks_page_for_every_role(client: Client, world: World) -> None:
    login(client, world.bob)
    page = client.get(f"/m/{world.acme.slug}/").content.decode()
    assert f'href="/m/{world.acme.slug}/webhooks/"' in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_webhooks_pages_in_a_browser(
    browser: Any, live_server: Any, world: World, receiver: Receiver
) -> None:
    """Add an endpoint, copy its secret, watch a failing delivery in the log, replay it."""
    from django.conf import settings as django_settings
    from django.db import transaction

    from tests.browser import DESKTOP, MOBILE, shot

    session = login(Client(), world.alice).cookies[django_settings.SESSION_COOKIE_NAME].value
    context = browser.new_context(viewport=DESKTOP)
    context.add_cookies(
        [{"name": django_settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{live_server.url}/m/acme/")
    page.get_by_role("navigation", name="Acme").get_by_role("link", name="Webhooks").click()
    page.get_by_label("Endpoint URL").fill(receiver.url)
    page.get_by_label("Description").fill("Order system")
    page.get_by_label("reward.issued").check()
    page.get_by_label("reward.voided").check()
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.locator("#new-secret-value").inner_text().strip()
    assert secret.startswith("whsec_")
    shot(page, "webhooks-created")
    with tenancy.merchant_context(world.acme):
        endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == secret

    # an event the receiver refuses
    receiver.behaviour.status = 500
    with tenancy.merchant_context(world.acme), transaction.atomic():
        emit("reward.issued", {"id": "rwd_1", "amount": 1000, "currency": "EUR"})
    assert len(receiver.requests) == 1
    page.get_by_role("link", name=receiver.url).click()
    row = page.locator("[data-delivery]")
    assert "HTTP 500" in row.inner_text()
    assert "Pending" in row.inner_text()
    shot(page, "webhooks-endpoint")

    # replay it once the receiver is fixed
    receiver.behaviour.status = 200
    row.get_by_role("link", name="reward.issued").click()
    page.get_by_role("button", name="Replay now").click()
    assert page.get_by_text("Sent again: the endpoint answered 200.").is_visible()
    assert page.locator("[data-delivery-status]").get_attribute("data-delivery-status") == (
        "succeeded"
    )
    assert page.locator("[data-attempt][data-manual]").count() == 1
    shot(page, "webhooks-delivery")
    assert len(receiver.requests) == 2

    page.set_viewport_size(MOBILE)
    page.goto(f"{live_server.url}/m/acme/webhooks/endpoints/{endpoint.public_id}/")
    shot(page, "webhooks-endpoint-mobile")
    assert errors == []
    context.close()
