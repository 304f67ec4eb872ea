"""Self-hosting is honest (issue 12): an installation without billing has no plan limits; with
billing, every feature a plan page sells is enforced by that plan (service, dashboard, API);
and the "powered by" footer whose removal is sold exists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, Merchant
from accounts.services import invitation_create
from billing import limits, plans
from billing.models import Subscription
from billing.plans import (
    GROWTH,
    PLANS,
    SCALE,
    SELF_HOSTED_PLAN,
    Feature,
)
from billing.selectors import banners
from programs.models import Program, ProgramStatus
from programs.services import (
    program_activate,
    program_config,
    program_create,
    program_duplicate,
    program_update,
)
from referral_saas import tenancy
from tests.conftest import World, login, make_key
from tests.factories import make_program
from tests.test_billing_support import billing_configured  # noqa: F401  (fixture)
from tracking.models import Conversion
from tracking.services import conversion_record
from webhooks.models import WebhookEndpoint
from webhooks.services import endpoint_create, endpoint_disable, endpoint_enable

HOOK_URL = "http://127.0.0.1:9/hooks"  # private targets are allowed in the test settings

TWO_SIDED: dict[str, Any] = {
    "name": "Give 10, get 10",
    "type": "two_sided",
    "currency": "EUR",
    "destination_url": "https://shop.example.com/",
    "allowed_domains": ["shop.example.com"],
    "advocate_reward": {"kind": "account_credit", "amount": 1000},
    "friend_reward": {"kind": "percent_discount", "percent": 15},
}
VARIANTS = [
    {"key": "control", "weight": 50},
    {"key": "richer", "weight": 50, "advocate_reward": {"kind": "account_credit", "amount": 1500}},
]


def on_plan(merchant: Merchant, plan: str) -> None:
    with tenancy.merchant_context(merchant):
        Subscription.objects.update_or_create(defaults={"plan": plan})


def api(client: Client, method: str, path: str, key: str, body: Any = None) -> Any:
    return client.generic(
        method,
        path,
        json.dumps(body) if body is not None else "",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def assert_plan_refusal(response: Any, feature: str, label: str) -> None:
    assert response.status_code == 403, response.content
    error = response.json()["error"]
    assert error["type"] == "permission_error"
    assert error["code"] == "plan_feature_unavailable"
    assert error["param"] == feature
    assert error["message"].startswith(f"{label} is not included in the Free plan")
    assert "Upgrade on the Billing page" in error["message"]


# --- What "billing configured" means ----------------------------------------------------------


def test_billing_is_configured_only_with_the_key_and_a_plan_on_sale(settings: Any) -> None:
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_PRICE_GROWTH = "price_g"
    settings.STRIPE_PRICE_SCALE = "price_s"
    assert plans.billing_configured() is False  # prices without a key sell nothing

    settings.STRIPE_SECRET_KEY = "sk_test_x"
    settings.STRIPE_PRICE_GROWTH = ""
    settings.STRIPE_PRICE_SCALE = ""
    assert plans.billing_configured() is False  # a key for reward fulfilment only: nothing on sale

    settings.STRIPE_PRICE_GROWTH = "price_g"
    assert plans.billing_configured() is True


def test_the_default_installation_is_self_hosted() -> None:
    # the defaults `make run` starts with (and the test settings) set no Stripe billing
    assert django_settings.STRIPE_SECRET_KEY == ""
    assert plans.billing_configured() is False


# --- Self-hosted: no plan limits at all ---------------------------------------------------------


def test_self_hosted_merchants_have_every_feature_and_no_limits(world: World) -> None:
    plan = limits.current_plan(merchant_id=world.acme.pk)
    assert plan is SELF_HOSTED_PLAN
    assert plan.limits.active_programs is None
    assert plan.limits.conversions_per_month is None
    assert plan.limits.seats is None
    for feature in Feature.LABELS:
        assert limits.feature_enabled(merchant_id=world.acme.pk, feature=feature)
        limits.require_feature(merchant_id=world.acme.pk, feature=feature)
    assert SELF_HOSTED_PLAN.code not in PLANS  # never sold, never stored


def test_self_hosted_activates_many_programs_invites_many_members_counts_no_limit(
    world: World,
) -> None:
    with tenancy.merchant_context(world.acme):
        programs = [
            make_program(world.acme, slug=f"p{n}", status=ProgramStatus.DRAFT) for n in range(3)
        ]
        for program in programs:
            program_activate(actor=world.alice, program=program)
        assert Program.objects.filter(status=ProgramStatus.ACTIVE).count() == 3  # Free allows 1
        owner = Membership.objects.get(user=world.alice)
        for n in range(4):  # Free has 3 seats, two already used
            invitation_create(actor=owner, email=f"member{n}@example.com", role="viewer")
        made = [
            conversion_record(
                order_id=f"O-{n}",
                amount=1000,
                currency="EUR",
                customer={"email": f"c{n}@example.com"},
            ).conversion
            for n in range(101)
        ]
    last = made[-1]
    assert not limits.conversion_over_limit(
        merchant_id=world.acme.pk,
        conversion_created_at=last.created_at,
        conversion_pk=last.pk,
    )
    assert Conversion.unscoped_all_merchants.filter(over_limit=True).count() == 0
    usage = limits.monthly_usage(merchant_id=world.acme.pk)
    assert (usage.used, usage.limit, usage.near, usage.reached) == (101, None, False, False)
    assert banners(merchant_id=world.acme.pk) == []


def test_self_hosted_billing_page_says_no_plan_limits_and_sells_nothing(
    client: Client, world: World
) -> None:
    login(client, world.alice)
    page = client.get("/m/acme/billing/").content.decode()
    assert "Self-hosted: no plan limits" in page
    assert 'data-testid="self-hosted"' in page
    assert "Not on sale" not in page
    assert "Upgrade to" not in page
    assert 'data-plan="free"' not in page  # no plan cards
    assert 'data-testid="current-plan"' not in page
    assert "every merchant uses the Free plan" not in page
    assert '<span class="billing-meter-value" data-testid="conversions-usage">0 / unlimited' in page
    for label in Feature.LABELS.values():
        assert f"<li>{label}</li>" in page


def test_self_hosted_checkout_is_refused_with_the_reason(client: Client, world: World) -> None:
    login(client, world.alice)
    response = client.post("/m/acme/billing/checkout/", {"plan": "growth"}, follow=True)
    assert "This installation does not sell plans" in response.content.decode()


def test_a_fulfilment_only_stripe_key_is_still_self_hosted(world: World, settings: Any) -> None:
    settings.STRIPE_SECRET_KEY = "sk_test_fulfilment_only"
    assert limits.current_plan(merchant_id=world.acme.pk) is SELF_HOSTED_PLAN


# --- Billing configured: every sold feature is enforced -----------------------------------------


@pytest.mark.usefixtures("billing_configured")
def test_webhook_endpoints_need_a_plan_with_webhooks_in_the_service(world: World) -> None:
    with tenancy.merchant_context(world.acme):
        with pytest.raises(limits.FeatureNotInPlan) as refused:
            endpoint_create(url=HOOK_URL)
        assert refused.value.feature == Feature.WEBHOOKS
        assert WebhookEndpoint.objects.count() == 0
    on_plan(world.acme, GROWTH)
    with tenancy.merchant_context(world.acme):
        endpoint = endpoint_create(url=HOOK_URL)
        endpoint_disable(endpoint=endpoint)
    # after a downgrade, a disabled endpoint cannot be switched back on
    on_plan(world.acme, "free")
    with tenancy.merchant_context(world.acme):
        with pytest.raises(limits.FeatureNotInPlan):
            endpoint_enable(endpoint=endpoint)
        endpoint.refresh_from_db()
        assert endpoint.enabled is False


@pytest.mark.usefixtures("billing_configured")
def test_the_api_refuses_a_webhook_endpoint_on_free_with_403_naming_the_feature(
    client: Client, world: World
) -> None:
    key = make_key(world.acme).plaintext
    response = api(client, "POST", "/api/v1/webhook-endpoints", key, {"url": HOOK_URL})
    assert_plan_refusal(response, "webhooks", "Outgoing webhooks")
    with tenancy.merchant_context(world.acme):
        assert WebhookEndpoint.objects.count() == 0

    on_plan(world.acme, GROWTH)
    created = api(client, "POST", "/api/v1/webhook-endpoints", key, {"url": HOOK_URL})
    assert created.status_code == 201, created.content


@pytest.mark.usefixtures("billing_configured")
def test_the_dashboard_refuses_a_webhook_endpoint_on_free_with_an_upgrade_message(
    client: Client, world: World
) -> None:
    login(client, world.alice)
    page = "/m/acme/webhooks/"
    response = client.post(
        f"{page}new/", {"url": HOOK_URL}, HTTP_REFERER=f"http://testserver{page}"
    )
    assert response.status_code == 303
    assert response["Location"] == f"http://testserver{page}"
    shown = client.get(page).content.decode()
    assert "Outgoing webhooks is not included in the Free plan" in shown
    assert "it comes with Growth and Scale" in shown
    assert '<a href="/m/acme/billing/">Go to Billing</a>' in shown  # owners get the link
    with tenancy.merchant_context(world.acme):
        assert WebhookEndpoint.objects.count() == 0


@pytest.mark.usefixtures("billing_configured")
def test_gated_pages_say_up_front_what_the_plan_lacks(client: Client, world: World) -> None:
    program = make_program(world.acme, status="draft")
    editor = reverse(
        "program_edit_variants", kwargs={"merchant_slug": "acme", "program_id": program.public_id}
    )
    login(client, world.alice)
    hooks = client.get("/m/acme/webhooks/").content.decode()
    assert (
        '<div class="alert alert-info" role="note" data-plan-feature-notice="webhooks">'
        "Outgoing webhooks is not included in your Free plan; it comes with Growth and Scale. "
        '<a href="/m/acme/billing/">Upgrade on the Billing page</a></div>'
    ) in hooks
    assert 'data-plan-feature-notice="ab_tests"' in client.get(editor).content.decode()
    # a viewer is told too, without the owner-only link
    login(client, world.bob)
    assert (
        "An owner can upgrade on the Billing page."
        in client.get("/m/acme/webhooks/").content.decode()
    )
    on_plan(world.acme, GROWTH)
    login(client, world.alice)
    assert "data-plan-feature-notice" not in client.get("/m/acme/webhooks/").content.decode()
    assert "data-plan-feature-notice" not in client.get(editor).content.decode()


def test_self_hosted_gated_pages_have_no_upgrade_notice(client: Client, world: World) -> None:
    login(client, world.alice)
    assert "data-plan-feature-notice" not in client.get("/m/acme/webhooks/").content.decode()


@pytest.mark.usefixtures("billing_configured")
def test_an_htmx_request_refused_by_the_plan_navigates_back(client: Client, world: World) -> None:
    login(client, world.alice)
    response = client.post(
        "/m/acme/webhooks/new/",
        {"url": HOOK_URL},
        HTTP_HX_REQUEST="true",
        HTTP_REFERER="https://elsewhere.example/",  # not ours: back to the merchant's overview
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/m/acme/"


@pytest.mark.usefixtures("billing_configured")
def test_ab_variants_need_a_plan_with_ab_tests(world: World) -> None:
    with tenancy.merchant_context(world.acme):
        with pytest.raises(limits.FeatureNotInPlan) as refused:
            program_create(actor=world.alice, data={**TWO_SIDED, "variants": VARIANTS})
        assert refused.value.feature == Feature.AB_TESTS
        assert Program.objects.count() == 0
        program = program_create(actor=world.alice, data=TWO_SIDED)
        with pytest.raises(limits.FeatureNotInPlan):
            program_update(actor=world.alice, program=program, data={"variants": VARIANTS})
        assert program_config(program).variants == ()
    on_plan(world.acme, GROWTH)
    with tenancy.merchant_context(world.acme):
        program = program_update(actor=world.alice, program=program, data={"variants": VARIANTS})
        assert len(program_config(program).variants) == 2
    # after a downgrade the program can still be edited where it does not touch its variants,
    # but it cannot be copied into a new A/B test
    on_plan(world.acme, "free")
    with tenancy.merchant_context(world.acme):
        program_update(actor=world.alice, program=program, data={"rules": {"hold_days": 7}})
        program_update(actor=world.alice, program=program, data={"name": "Renamed"})
        assert program_config(Program.objects.get(pk=program.pk)).rules.hold_days == 7
        with pytest.raises(limits.FeatureNotInPlan):
            program_duplicate(actor=world.alice, program=program)
        assert Program.objects.count() == 1


@pytest.mark.usefixtures("billing_configured")
def test_the_api_refuses_variants_on_free_with_403_naming_the_feature(
    client: Client, world: World
) -> None:
    key = make_key(world.acme).plaintext
    response = api(client, "POST", "/api/v1/programs", key, {**TWO_SIDED, "variants": VARIANTS})
    assert_plan_refusal(response, "ab_tests", "A/B tests of offers and copy")
    with tenancy.merchant_context(world.acme):
        assert Program.objects.count() == 0
    on_plan(world.acme, SCALE)
    created = api(client, "POST", "/api/v1/programs", key, {**TWO_SIDED, "variants": VARIANTS})
    assert created.status_code == 201, created.content


@pytest.mark.usefixtures("billing_configured")
def test_the_variant_editor_on_free_shows_an_upgrade_message_not_a_500(
    client: Client, world: World
) -> None:
    from tests.test_program_variants import TWO, variants

    program = make_program(world.acme, status="draft")
    login(client, world.alice)
    editor = reverse(
        "program_edit_variants", kwargs={"merchant_slug": "acme", "program_id": program.public_id}
    )
    assert client.get(editor).status_code == 200
    response = client.post(editor, variants(*TWO), HTTP_REFERER=f"http://testserver{editor}")
    assert response.status_code == 303
    shown = client.get(editor).content.decode()
    assert "A/B tests of offers and copy is not included in the Free plan" in shown
    with tenancy.merchant_context(world.acme):
        assert program_config(Program.objects.get(pk=program.pk)).variants == ()


@pytest.mark.usefixtures("billing_configured")
def test_stripe_and_webhook_fulfilment_need_their_features(world: World) -> None:
    Merchant.objects.filter(pk=world.acme.pk).update(stripe_account_id="acct_test")
    stripe_reward = {
        "kind": "account_credit",
        "amount": 1000,
        "fulfilment": "stripe_customer_balance",
    }
    webhook_reward = {"kind": "account_credit", "amount": 1000, "fulfilment": "webhook"}
    with tenancy.merchant_context(Merchant.objects.get(pk=world.acme.pk)):
        with pytest.raises(limits.FeatureNotInPlan) as stripe:
            program_create(actor=world.alice, data={**TWO_SIDED, "advocate_reward": stripe_reward})
        assert stripe.value.feature == Feature.STRIPE_FULFILMENT
        with pytest.raises(limits.FeatureNotInPlan) as webhook:
            program_create(actor=world.alice, data={**TWO_SIDED, "advocate_reward": webhook_reward})
        assert webhook.value.feature == Feature.WEBHOOKS
        assert Program.objects.count() == 0
    on_plan(world.acme, GROWTH)
    with tenancy.merchant_context(Merchant.objects.get(pk=world.acme.pk)):
        program_create(
            actor=world.alice,
            data={**TWO_SIDED, "slug": "stripe", "advocate_reward": stripe_reward},
        )
        program_create(
            actor=world.alice,
            data={**TWO_SIDED, "slug": "hook", "advocate_reward": webhook_reward},
        )


# --- The "powered by" footer: sold as Custom branding, so it exists ------------------------------


def footer(client: Client, lang: str = "en") -> str:
    return client.get(f"/p/acme/give-10/?lang={lang}").content.decode()


@pytest.mark.usefixtures("billing_configured")
def test_hosted_pages_on_free_and_growth_show_the_powered_by_footer(
    client: Client, world: World
) -> None:
    make_program(world.acme, slug="give-10")
    page = footer(client)
    assert 'data-powered-by>Powered by <a href="http://127.0.0.1:8000/"' in page
    assert "Referral SaaS</a>" in page
    on_plan(world.acme, GROWTH)
    assert "data-powered-by" in footer(client)


@pytest.mark.usefixtures("billing_configured")
@pytest.mark.parametrize(
    ("lang", "words"),
    [("it", "Realizzato con"), ("ro", "Realizat cu"), ("pl", "Obsługiwane przez")],
)
def test_the_powered_by_footer_speaks_the_pages_language(
    client: Client, world: World, lang: str, words: str
) -> None:
    make_program(world.acme, slug="give-10")
    page = footer(client, lang)
    assert f"data-powered-by>{words} <a href=" in page
    assert "Powered by" not in page


@pytest.mark.usefixtures("billing_configured")
def test_custom_branding_removes_the_footer(client: Client, world: World) -> None:
    make_program(world.acme, slug="give-10")
    on_plan(world.acme, SCALE)
    assert "data-powered-by" not in footer(client)


def test_self_hosted_pages_have_no_powered_by_footer(client: Client, world: World) -> None:
    make_program(world.acme, slug="give-10")
    assert "data-powered-by" not in footer(client)


# --- The licence ---------------------------------------------------------------------------------


def test_the_repository_is_agpl_and_says_so() -> None:
    root = Path(django_settings.BASE_DIR)
    text = (root / "LICENSE").read_text()
    assert text.startswith(" " * 20 + "GNU AFFERO GENERAL PUBLIC LICENSE\n")
    assert "  13. Remote Network Interaction; Use with the GNU General Public License." in text
    assert text.rstrip().endswith("<https://www.gnu.org/licenses/>.")
    assert 'license = "AGPL-3.0-or-later"' in (root / "pyproject.toml").read_text()
    assert "## License" in (root / "README.md").read_text()
