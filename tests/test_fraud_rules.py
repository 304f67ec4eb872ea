"""Each fraud rule's hit and miss, `off`, score-only, reasons, determinism and query count."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from programs.specs import FRAUD_RULES
from rewards.fraud import RULES, FraudInput, Signal
from rewards.fraud.base import combine
from rewards.fraud.registry import UNCONFIGURED, UNREGISTERED
from tests.conftest import World
from tests.fraud_helpers import Scene, at, fraud, judge, only, rules_hit, scene_for
from tracking.models import Conversion


@pytest.fixture
def scene(world: World) -> Iterator[Scene]:
    with scene_for(world.acme) as built:
        yield built


# --- the registry --------------------------------------------------------------------------


def test_registry_has_exactly_the_configurable_rules_in_order() -> None:
    assert UNREGISTERED == []
    assert UNCONFIGURED == []
    assert list(RULES) == list(FRAUD_RULES)
    assert all(rule.name == name for name, rule in RULES.items())


def test_a_clean_referral_passes_with_no_signal(scene: Scene) -> None:
    advocate = scene.advocate("anna.bianchi@libero.it", name="Anna Bianchi", ip_hash="ip-a")
    click = scene.click(advocate, at(-600), ip_hash="ip-f", user_agent="Firefox")
    referral = scene.referral(advocate, "marco@gmail.com", at(-590), name="Marco Verdi")
    conversion = scene.conversion(
        advocate, at(), email="marco@gmail.com", ip_hash="ip-f", country="IT", new_customer=True
    )

    result = judge(conversion, fraud(), click=click, referral=referral)

    assert result.signals == ()
    assert result.outcome == "pass"
    assert result.risk_score == 0
    assert result.reasons() == []


# --- self-referral -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("advocate_email", "friend_email"),
    [
        ("mario.rossi@gmail.com", "MarioRossi+friend@googlemail.com"),
        ("mario.rossi@libero.it", "Mario.Rossi+2@Libero.it"),
        ("jan@wp.pl", "jan@wp.pl."),
    ],
)
def test_self_referral_by_normalised_email(
    scene: Scene, advocate_email: str, friend_email: str
) -> None:
    advocate = scene.advocate(advocate_email)
    conversion = scene.conversion(advocate, at(), email=friend_email)

    result = judge(conversion, fraud())

    assert rules_hit(result) == {"self_referral": "reject"}
    signal = result.signals[0]
    assert signal.score == 100
    assert friend_email in signal.detail
    assert advocate_email in signal.detail
    assert signal.evidence == {
        "matches": [{"field": "email", "advocate": advocate_email, "friend": friend_email}]
    }
    assert result.outcome == "reject"


def test_dots_are_different_people_outside_gmail(scene: Scene) -> None:
    advocate = scene.advocate("mario.rossi@libero.it")
    conversion = scene.conversion(advocate, at(), email="mariorossi@libero.it")

    assert judge(conversion, only("self_referral")).signals == ()


def test_self_referral_by_customer_id_visitor_and_name(scene: Scene) -> None:
    advocate = scene.advocate(
        "anna@example.com", name="Anna Bianchi", customer_id="cus_1", visitor_id="vis-1"
    )
    click = scene.click(advocate, at(-300), visitor_id="vis-1")
    conversion = scene.conversion(
        advocate,
        at(),
        email="other@example.com",
        customer_id="cus_1",
        customer_name="BIANCHI, Anna",
    )

    signal = judge(conversion, only("self_referral"), click=click).signals[0]

    assert [match["field"] for match in signal.evidence["matches"]] == [
        "customer_id",
        "visitor_id",
        "name",
    ]
    assert signal.score == 100


def test_a_shared_full_name_alone_scores_lower(scene: Scene) -> None:
    advocate = scene.advocate("anna@example.com", name="Anna Bianchi")
    conversion = scene.conversion(
        advocate, at(), email="a.b@example.org", customer_name="Anna Bianchi"
    )

    signal = judge(conversion, only("self_referral")).signals[0]

    assert signal.score == 70
    assert signal.evidence["matches"] == [
        {
            "field": "name",
            "advocate": "Anna Bianchi <anna@example.com>",
            "friend": "Anna Bianchi <a.b@example.org>",
        }
    ]


def test_a_shared_first_name_is_not_self_referral(scene: Scene) -> None:
    advocate = scene.advocate("mario@example.com", name="Mario")
    conversion = scene.conversion(advocate, at(), email="m2@example.org", customer_name="Mario")

    assert judge(conversion, only("self_referral")).signals == ()


def test_self_referral_by_the_advocates_own_card(scene: Scene) -> None:
    advocate = scene.advocate("anna@example.com")
    # the advocate's own earlier order (as a customer, with a plus-tag), paid with card X
    scene.conversion(None, at(hours=-100), email="Anna+me@example.com", payment_fingerprint="X")
    conversion = scene.conversion(
        advocate, at(), email="friend@example.org", payment_fingerprint="X"
    )

    signal = judge(conversion, only("self_referral")).signals[0]

    assert signal.evidence["matches"] == [{"field": "payment_fingerprint", "advocate_orders": 1}]
    other_card = scene.conversion(
        advocate, at(10), email="friend2@example.org", payment_fingerprint="Y"
    )
    assert judge(other_card, only("self_referral")).signals == ()


def test_one_card_paying_for_several_friends_of_one_advocate(scene: Scene) -> None:
    advocate = scene.advocate("anna@example.com")
    scene.conversion(advocate, at(-3600), email="first@example.org", payment_fingerprint="X")
    conversion = scene.conversion(
        advocate, at(), email="second@example.org", payment_fingerprint="X"
    )
    # the same friend paying twice with their own card is not a signal
    again = scene.conversion(advocate, at(60), email="second@example.org", payment_fingerprint="Z")
    scene.conversion(advocate, at(50), email="second@example.org", payment_fingerprint="Z")

    signal = judge(conversion, only("self_referral")).signals[0]

    assert signal.evidence["matches"] == [
        {"field": "payment_fingerprint_shared", "other_friends_orders": 1}
    ]
    assert judge(again, only("self_referral")).signals == ()


def test_same_ip_and_browser_is_not_self_referral_and_only_scores(scene: Scene) -> None:
    advocate = scene.advocate("anna@example.com", ip_hash="office")
    click = scene.click(advocate, at(-600), ip_hash="office", user_agent="Chrome/130")
    conversion = scene.conversion(
        advocate, at(), email="luca@example.com", ip_hash="office", user_agent="Chrome/130"
    )
    # a stored configuration asking for a verdict is not obeyed
    settings = fraud({"same_ip_user_agent": "reject"})

    result = judge(conversion, settings, click=click)

    assert rules_hit(result) == {"same_ip_user_agent": "score_only"}
    assert result.signals[0].score == 35
    assert result.signals[0].evidence == {"same_ip_on": ["order", "click"], "same_user_agent": True}
    assert result.outcome == "pass"
    assert result.risk_score == 35


def test_same_ip_miss(scene: Scene) -> None:
    advocate = scene.advocate("anna@example.com", ip_hash="home-a")
    conversion = scene.conversion(advocate, at(), ip_hash="home-b")

    assert judge(conversion, fraud()).signals == ()


# --- disposable email ----------------------------------------------------------------------


def test_disposable_friend_email_is_held_for_review(scene: Scene) -> None:
    advocate = scene.advocate()
    conversion = scene.conversion(advocate, at(), email="cheap@mailinator.com")

    result = judge(conversion, fraud())

    assert rules_hit(result) == {"disposable_email": "review"}
    assert result.outcome == "review"
    assert result.signals[0].evidence == {
        "email": "cheap@mailinator.com",
        "listed_domain": "mailinator.com",
    }


def test_the_referrals_email_counts_too(scene: Scene) -> None:
    advocate = scene.advocate()
    referral = scene.referral(advocate, "x@yopmail.com", at(-60))
    conversion = scene.conversion(advocate, at(), email="real@gmail.com")

    assert rules_hit(judge(conversion, fraud(), referral=referral)) == {
        "disposable_email": "review"
    }


def test_mainstream_friend_email_is_not_disposable(scene: Scene) -> None:
    advocate = scene.advocate()
    conversion = scene.conversion(advocate, at(), email="jan.kowalski@wp.pl")

    assert judge(conversion, only("disposable_email")).signals == ()


# --- fast conversion -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "flagged"), [(0, True), (29, True), (29.9, True), (30, False), (3600, False)]
)
def test_fast_conversion_boundary(scene: Scene, seconds: float, flagged: bool) -> None:
    advocate = scene.advocate()
    click = scene.click(advocate, at())
    conversion = scene.conversion(advocate, at(seconds))

    result = judge(conversion, only("fast_conversion", "review"), click=click)

    assert rules_hit(result) == ({"fast_conversion": "review"} if flagged else {})


def test_an_order_before_its_click_is_flagged_and_no_click_is_not(scene: Scene) -> None:
    advocate = scene.advocate()
    click = scene.click(advocate, at(120))
    conversion = scene.conversion(advocate, at())

    signal = judge(conversion, only("fast_conversion"), click=click).signals[0]

    assert signal.detail == "The order was placed 120 seconds before the referral click."
    assert signal.evidence["seconds"] == -120
    assert judge(conversion, only("fast_conversion")).signals == ()


# --- duplicate friend ----------------------------------------------------------------------


def test_friend_already_referred_by_another_advocate(scene: Scene) -> None:
    first, second = scene.advocate(), scene.advocate()
    scene.referral(first, "Marco.Verdi@gmail.com", at(hours=-48))
    referral = scene.referral(second, "marcoverdi+2@gmail.com", at(hours=-1))
    conversion = scene.conversion(second, at(), email="marcoverdi+2@gmail.com")

    result = judge(conversion, only("duplicate_friend"), referral=referral)

    assert rules_hit(result) == {"duplicate_friend": "reject"}
    assert result.signals[0].evidence == {
        "earlier_referrals": [
            {
                "advocate_code": first.code,
                "email": "Marco.Verdi@gmail.com",
                "referred_at": "2026-10-31T12:00:00Z",
            }
        ]
    }


def test_duplicate_friend_by_customer_id(scene: Scene) -> None:
    first, second = scene.advocate(), scene.advocate()
    scene.referral(first, "old@example.com", at(hours=-48), customer_id="cus_9")
    conversion = scene.conversion(second, at(), email="new@example.com", customer_id="cus_9")

    assert rules_hit(judge(conversion, only("duplicate_friend"))) == {"duplicate_friend": "reject"}


def test_not_a_duplicate_when_first_or_same_advocate(scene: Scene) -> None:
    first, second = scene.advocate(), scene.advocate()
    referral = scene.referral(first, "luca@gmail.com", at(hours=-2))
    # the same advocate again, and another advocate only after this friend was referred
    scene.referral(first, "l.u.c.a@gmail.com", at(hours=-1))
    scene.referral(second, "luca+x@gmail.com", at(hours=-1))
    conversion = scene.conversion(first, at(), email="luca@gmail.com")

    assert judge(conversion, only("duplicate_friend"), referral=referral).signals == ()


# --- existing customer ---------------------------------------------------------------------


def test_friend_who_had_ordered_before_being_referred(scene: Scene) -> None:
    advocate = scene.advocate()
    scene.conversion(None, at(hours=-24 * 60), email="Giulia.Neri@Gmail.com")
    referral = scene.referral(advocate, "giulianeri+promo@gmail.com", at(hours=-1))
    conversion = scene.conversion(advocate, at(), email="giulianeri+promo@gmail.com")

    result = judge(conversion, only("existing_customer"), referral=referral)

    assert rules_hit(result) == {"existing_customer": "reject"}
    assert result.signals[0].evidence == {
        "earlier_orders": 1,
        "first_order_at": "2026-09-03T12:00:00Z",
        "referred_at": "2026-11-02T11:00:00Z",
    }


def test_orders_after_the_referral_do_not_make_an_existing_customer(scene: Scene) -> None:
    advocate = scene.advocate()
    referral = scene.referral(advocate, "giulia@example.com", at(hours=-5))
    scene.conversion(advocate, at(hours=-4), email="giulia@example.com")
    conversion = scene.conversion(advocate, at(), email="giulia@example.com")

    assert judge(conversion, only("existing_customer"), referral=referral).signals == ()


def test_the_shop_saying_returning_customer_is_enough(scene: Scene) -> None:
    advocate = scene.advocate()
    conversion = scene.conversion(advocate, at(), new_customer=False)

    signal = judge(conversion, only("existing_customer")).signals[0]

    assert signal.evidence == {"reported_new_customer": False}


def test_another_merchants_orders_are_not_seen(scene: Scene, world: World) -> None:
    from referral_saas import tenancy

    with tenancy.merchant_context(world.globex):
        Conversion.objects.create(
            order_id="g1",
            amount=100,
            currency="EUR",
            customer_email="giulia@example.com",
            occurred_at=at(hours=-100),
        )
    advocate = scene.advocate()
    conversion = scene.conversion(advocate, at(), email="giulia@example.com")

    assert judge(conversion, only("existing_customer")).signals == ()


# --- blocked lists -------------------------------------------------------------------------


def test_blocked_country(scene: Scene) -> None:
    advocate = scene.advocate()
    blocked = scene.conversion(advocate, at(), country="KP")
    allowed = scene.conversion(advocate, at(1), country="IT")
    settings = only("blocked_country", blocked_countries=("KP", "RU"))

    assert rules_hit(judge(blocked, settings)) == {"blocked_country": "reject"}
    assert judge(allowed, settings).signals == ()


def test_blocked_email_domain_and_its_subdomains(scene: Scene) -> None:
    advocate = scene.advocate()
    settings = only("blocked_email_domain", blocked_email_domains=("shop-staff.it",))
    staff = scene.conversion(advocate, at(), email="ops@mail.shop-staff.it")
    lookalike = scene.conversion(advocate, at(1), email="x@not-shop-staff.it")

    signal = judge(staff, settings).signals[0]
    assert signal.evidence == {"email": "ops@mail.shop-staff.it", "blocked_domain": "shop-staff.it"}
    assert judge(lookalike, settings).signals == ()


@pytest.mark.parametrize(
    ("referer", "flagged"),
    [
        ("https://www.coupons.example/deals?id=1", True),
        ("https://coupons.example./", True),
        ("https://coupons.example.org/", False),
        ("https://mycoupons.example/", False),
        ("not a url", False),
        ("", False),
    ],
)
def test_blocked_referrer(scene: Scene, referer: str, flagged: bool) -> None:
    advocate = scene.advocate()
    click = scene.click(advocate, at(-600), referer=referer)
    conversion = scene.conversion(advocate, at())
    settings = only("blocked_referrer", blocked_referring_domains=("coupons.example",))

    result = judge(conversion, settings, click=click)

    assert rules_hit(result) == ({"blocked_referrer": "reject"} if flagged else {})


# --- every rule at once: off, score-only, reasons, determinism, queries --------------------


def _everything(scene: Scene) -> tuple[Conversion, dict[str, object]]:
    """A conversion that trips every rule."""
    advocate = scene.advocate(
        "fraudster@gmail.com", name="Frank Fraud", ip_hash="ip-1", visitor_id="v-1"
    )
    other = scene.advocate()
    scene.referral(other, "f.r.a.u.d.s.t.e.r@gmail.com", at(hours=-30))
    scene.conversion(None, at(hours=-40), email="fraudster+old@gmail.com")
    for minute in range(3):
        scene.conversion(advocate, at(minutes=-10 - minute), ip_hash="ip-1")
    click = scene.click(
        advocate, at(-5), ip_hash="ip-1", user_agent="UA", referer="https://coupons.example/x"
    )
    referral = scene.referral(advocate, "fraudster+1@gmail.com", at(-4), click=click)
    conversion = scene.conversion(
        advocate,
        at(),
        email="fraudster@mailinator.com",
        ip_hash="ip-1",
        user_agent="UA",
        country="KP",
        new_customer=False,
    )
    return conversion, {"click": click, "referral": referral}


def _everything_settings(**outcomes: str) -> object:
    return fraud(
        outcomes,
        velocity_per_advocate_per_day=2,
        velocity_per_ip_per_day=2,
        velocity_per_program_per_hour=2,
        blocked_countries=("KP",),
        blocked_email_domains=("gmail.com",),
        blocked_referring_domains=("coupons.example",),
    )


def test_every_rule_can_hit(scene: Scene) -> None:
    conversion, extra = _everything(scene)

    result = judge(conversion, _everything_settings(), **extra)  # type: ignore[arg-type]

    assert list(rules_hit(result)) == list(FRAUD_RULES)
    assert result.outcome == "reject"
    assert result.risk_score == 100


@pytest.mark.parametrize("rule", list(FRAUD_RULES))
def test_off_disables_a_rule(scene: Scene, rule: str) -> None:
    conversion, extra = _everything(scene)

    result = judge(conversion, _everything_settings(**{rule: "off"}), **extra)  # type: ignore[arg-type]

    assert set(rules_hit(result)) == set(FRAUD_RULES) - {rule}


def test_score_only_never_changes_the_outcome(scene: Scene) -> None:
    conversion, extra = _everything(scene)
    settings = _everything_settings(**{rule: "score_only" for rule in FRAUD_RULES})

    result = judge(conversion, settings, **extra)  # type: ignore[arg-type]

    assert set(rules_hit(result).values()) == {"score_only"}
    assert len(result.signals) == len(FRAUD_RULES)
    assert result.outcome == "pass"
    assert result.risk_score == 100  # the risk is still told


def test_review_wins_over_pass_and_reject_over_review(scene: Scene) -> None:
    conversion, extra = _everything(scene)
    reviews = _everything_settings(**dict.fromkeys(FRAUD_RULES, "review"))
    one_reject = _everything_settings(
        **{**dict.fromkeys(FRAUD_RULES, "review"), "blocked_country": "reject"}
    )

    assert judge(conversion, reviews, **extra).outcome == "review"  # type: ignore[arg-type]
    assert judge(conversion, one_reject, **extra).outcome == "reject"  # type: ignore[arg-type]


def test_reasons_are_json_and_carry_rule_outcome_detail(scene: Scene) -> None:
    conversion, extra = _everything(scene)

    reasons = judge(conversion, _everything_settings(), **extra).reasons()  # type: ignore[arg-type]

    assert json.loads(json.dumps(reasons)) == reasons
    for reason in reasons:
        assert set(reason) == {"rule", "outcome", "detail", "score", "evidence"}
        assert reason["detail"].endswith(".")
        assert "\n" not in reason["detail"]
        assert 0 < reason["score"] <= 100
    Conversion.objects.filter(pk=conversion.pk).update(reasons=reasons)
    conversion.refresh_from_db()
    assert conversion.reasons == reasons


def test_the_same_input_gives_the_same_decision_even_after_later_rows(scene: Scene) -> None:
    conversion, extra = _everything(scene)
    settings = _everything_settings()
    first = judge(conversion, settings, **extra)  # type: ignore[arg-type]
    assert judge(conversion, settings, **extra) == first  # type: ignore[arg-type]

    # given rows that arrive after the conversion (even ones dated before it)
    advocate = conversion.advocate
    assert advocate is not None
    later = at(hours=1)
    for minute in range(5):
        scene.conversion(
            advocate, at(minutes=-minute), created_at=later, ip_hash="ip-1", payment_fingerprint="P"
        )
    scene.conversion(None, at(hours=-50), created_at=later, email="fraudster@gmail.com")
    scene.referral(scene.advocate(), "fraud.ster@gmail.com", later)

    # then judging it again changes nothing
    assert judge(conversion, settings, **extra) == first  # type: ignore[arg-type]


def test_ties_on_arrival_time_are_broken_by_id(scene: Scene) -> None:
    advocate = scene.advocate()
    same_instant = at(5)
    earlier = scene.conversion(advocate, at(), created_at=same_instant)
    later = scene.conversion(advocate, at(), created_at=same_instant)
    settings = only("velocity", velocity_per_advocate_per_day=1)

    assert judge(earlier, settings).signals == ()
    assert rules_hit(judge(later, settings)) == {"velocity": "reject"}


def test_one_evaluation_is_at_most_three_queries(scene: Scene) -> None:
    conversion, extra = _everything(scene)
    conversion.payment_fingerprint = "card"
    conversion.save(update_fields=["payment_fingerprint"])

    with CaptureQueriesContext(connection) as queries:
        result = judge(conversion, _everything_settings(), **extra)  # type: ignore[arg-type]

    assert len(result.signals) == len(FRAUD_RULES)
    assert len(queries.captured_queries) == 3  # velocity, identity, other referrals


def test_rules_that_need_no_rows_run_no_query(scene: Scene) -> None:
    conversion, extra = _everything(scene)
    settings = _everything_settings(
        velocity="off", duplicate_friend="off", existing_customer="off", self_referral="off"
    )

    with CaptureQueriesContext(connection) as queries:
        result = judge(conversion, settings, **extra)  # type: ignore[arg-type]

    assert len(result.signals) == len(FRAUD_RULES) - 4
    assert queries.captured_queries == []


def test_a_rule_can_be_checked_on_its_own(scene: Scene) -> None:
    advocate = scene.advocate("mario@gmail.com")
    conversion = scene.conversion(advocate, at(), email="m.a.r.i.o@gmail.com")
    inp = FraudInput(
        conversion=conversion,
        advocate=advocate,
        referral=None,
        click=None,
        fraud=fraud(),
        program_id=scene.program.pk,
    )

    signal = RULES["self_referral"].check(inp)

    assert isinstance(signal, Signal)
    assert signal.outcome == "reject"
    assert RULES["velocity"].check(inp) is None


# --- the risk score ------------------------------------------------------------------------


def _signal(score: int, outcome: str = "score_only") -> Signal:
    return Signal(rule="x", outcome=outcome, score=score, detail=".", evidence={})


@pytest.mark.parametrize(
    ("scores", "risk"),
    [((), 0), ((25,), 25), ((50, 50), 75), ((25, 35), 51), ((100, 10), 100), ((0, 0), 0)],
)
def test_risk_score_combines_independent_chances(scores: tuple[int, ...], risk: int) -> None:
    signals = tuple(_signal(score) for score in scores)
    assert combine(signals).risk_score == risk
    assert combine(tuple(reversed(signals))).risk_score == risk


def test_time_windows_do_not_read_the_clock(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    # a conversion from long ago is judged by its own time, not today's
    advocate = scene.advocate()
    old = at(hours=-24 * 400)
    for minute in range(3):
        scene.conversion(advocate, old - timedelta(minutes=minute + 1))
    conversion = scene.conversion(advocate, old)

    result = judge(conversion, only("velocity", velocity_per_advocate_per_day=3))

    assert result.signals[0].evidence == {
        "exceeded": [{"limit": "advocate_per_day", "count": 4, "threshold": 3}]
    }


def test_self_referral_details_read_plainly(scene: Scene) -> None:
    advocate = scene.advocate("mario.rossi@gmail.com")
    same = scene.conversion(advocate, at(), email="mario.rossi@gmail.com")
    variant = scene.conversion(advocate, at(1), email="m.ario.rossi+x@gmail.com")

    assert judge(same, only("self_referral")).signals[0].detail == (
        "The friend's email is the advocate's own, mario.rossi@gmail.com."
    )
    assert judge(variant, only("self_referral")).signals[0].detail == (
        "The friend's email m.ario.rossi+x@gmail.com is the advocate's mario.rossi@gmail.com "
        "(both normalise to mariorossi@gmail.com)."
    )
