"""Dashboard pages for referral programs: the list, the create/edit wizard, the program page
with its live preview, the A/B variants editor, and the lifecycle actions.

The wizard makes a draft at the end of step 1 (`program_create` with a valid default
configuration for the chosen type) and every later step sends `program_update` only the part it
edits, so each step is judged by exactly the code the API uses. A `SpecError` names each problem
by its field path; `programs.forms.place_errors` puts the message next to that field.

Every view is wrapped in `merchant_view` (viewers read, admins write) and reads through the
scoped managers, so another merchant's program is the same 404 as a missing one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.decorators import MerchantRequest, merchant_view
from accounts.models import Role, User
from programs import forms as wizard
from programs import services
from programs.branding import landing_texts
from programs.localized import missing_translations
from programs.models import CodePool, Program, ProgramStatus, ProgramType
from programs.specs import (
    FRAUD_RULES,
    ProgramConfig,
    SpecError,
    Variant,
    collect_warnings,
    config_from_stored,
)
from programs.summary import offer_headline, program_summary, reward_phrase

STEPS = (
    ("basics", _("Basics"), "program_edit_basics"),
    ("rewards", _("Rewards"), "program_edit_rewards"),
    ("rules", _("Rules & fraud"), "program_edit_rules"),
    ("copy", _("Copy & branding"), "program_edit_copy"),
    ("review", _("Review"), "program_detail"),
)
STATUS_BADGES: dict[str, str] = {
    ProgramStatus.DRAFT: "badge-muted",
    ProgramStatus.ACTIVE: "badge-success",
    ProgramStatus.PAUSED: "badge-warning",
    ProgramStatus.ARCHIVED: "badge-danger",
}
ACTIONS: dict[str, Callable[..., Program]] = {
    "activate": services.program_activate,
    "pause": services.program_pause,
    "archive": services.program_archive,
}
DONE = {"activate": "is live", "pause": "is paused", "archive": "is archived"}


def _reader_locale() -> str:
    """The language the person reads the dashboard in (summaries and headlines follow it)."""
    language = (translation.get_language() or "en").split("-")[0]
    return language if language in ("en", "it", "ro", "pl") else "en"


# --- Helpers ---------------------------------------------------------------------------------


def _user(request: MerchantRequest) -> User:
    return cast(User, request.user)


def _may_edit(request: MerchantRequest) -> bool:
    return request.membership.has_role(Role.ADMIN)


def _program(program_id: str) -> Program:
    return get_object_or_404(Program, public_id=program_id)


def _to(name: str, request: MerchantRequest, program: Program | None = None) -> HttpResponse:
    kwargs: dict[str, Any] = {"merchant_slug": request.merchant.slug}
    if program is not None:
        kwargs["program_id"] = program.public_id
    return redirect(name, **kwargs)


def _optional_url(name: str, **kwargs: Any) -> str:
    """Link to pages other work may not have shipped yet (code pools)."""
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        return ""


def _allowed_actions(program: Program) -> list[str]:
    return [
        action
        for action, transitions in services.TRANSITIONS.items()
        if program.status in transitions
    ]


def _next_step(current: str) -> str:
    names = [name for name, _label, _url in STEPS]
    return STEPS[names.index(current) + 1][2]


@dataclass
class StepPage:
    """What every wizard template needs: where it is and how to get around."""

    program: Program | None
    current: str

    def steps(self, merchant_slug: str) -> list[dict[str, Any]]:
        names = [name for name, _label, _url in STEPS]
        here = names.index(self.current)
        rows = []
        for index, (name, label, url_name) in enumerate(STEPS):
            url = ""
            if self.program is not None:
                url = reverse(
                    url_name,
                    kwargs={"merchant_slug": merchant_slug, "program_id": self.program.public_id},
                )
            rows.append(
                {
                    "number": index + 1,
                    "label": label,
                    "url": url,
                    "current": name == self.current,
                    "done": index < here,
                }
            )
        return rows


def _render_step(
    request: MerchantRequest,
    template: str,
    page: StepPage,
    context: dict[str, Any],
    *,
    status: int = 200,
) -> HttpResponse:
    context = {
        "program": page.program,
        "steps": page.steps(request.merchant.slug),
        "step": page.current,
        **context,
    }
    return render(request, template, context, status=status)


def _saved(request: MerchantRequest, program: Program, step: str) -> HttpResponse:
    if "stay" in request.POST:
        messages.success(request, gettext("Saved."))
        return _to(STEPS[[s[0] for s in STEPS].index(step)][2], request, program)
    return _to(_next_step(step), request, program)


def _step_errors() -> forms.Form:
    """An empty, validated form that only carries errors no field on the step shows."""
    holder = forms.Form(data={})
    holder.is_valid()
    return holder


# --- List --------------------------------------------------------------------------------------


def _summary_line(program: Program, stored: dict[str, Any] | None) -> str:
    if stored is None:
        return ""
    config = config_from_stored(stored, program_type=program.type, currency=program.currency)
    return program_summary(config, _reader_locale(), currency=program.currency)


# --- Program page (also the wizard's review step) ------------------------------------------------


@require_GET
@merchant_view()
def program_detail(request: MerchantRequest, program_id: str) -> HttpResponse:
    program = _program(program_id)
    config = services.program_config(program)
    slug = request.merchant.slug
    context = {
        "badge": STATUS_BADGES.get(program.status, "badge-muted"),
        "summary": program_summary(config, _reader_locale(), currency=program.currency),
        "headline": offer_headline(config, _reader_locale()),
        "rewards": _reward_rows(config),
        "fraud": [
            (wizard.FRAUD_LABELS[rule], wizard.OUTCOME_LABELS[config.fraud.outcomes[rule]])
            for rule in FRAUD_RULES
        ],
        "config": config,
        "variants": _variant_rows(program, config),
        "missing_translations": missing_translations(program, config),
        "actions": _allowed_actions(program) if _may_edit(request) else [],
        "may_edit": _may_edit(request) and program.status != ProgramStatus.ARCHIVED,
        "may_duplicate": _may_edit(request),
        "landing_url": reverse("program_landing", args=[slug, program.slug]),
        **_preview_context(request, program, config),
    }
    return _render_step(request, "programs/detail.html", StepPage(program, "review"), context)


def _reward_rows(config: ProgramConfig) -> list[tuple[str, str]]:
    rows = []
    if config.advocate_reward:
        rows.append(
            (
                gettext("Advocate"),
                reward_phrase(config.advocate_reward, _reader_locale(), with_expiry=True),
            )
        )
    for tier in config.tiers:
        label = f"Advocate at {tier.threshold}" + (" (repeats)" if tier.repeat else "")
        rows.append((label, reward_phrase(tier.reward, _reader_locale(), with_expiry=True)))
    if config.friend_reward:
        rows.append(
            (
                gettext("Friend"),
                reward_phrase(config.friend_reward, _reader_locale(), with_expiry=True),
            )
        )
    return rows


def _preview_context(
    request: MerchantRequest, program: Program, config: ProgramConfig | None = None
) -> dict[str, Any]:
    """The preview frame and its switchers. The links work without script (each loads the
    frame by name); programs.js carries the other switcher's choice into them."""
    slug = request.merchant.slug
    url = reverse(
        "program_preview", kwargs={"merchant_slug": slug, "program_id": program.public_id}
    )
    lang = program.default_locale
    variants = config.variants if config is not None else ()
    return {
        "preview_base": url,
        "preview_url": f"{url}?lang={lang}",
        "preview_languages": [
            {
                "code": code,
                "name": wizard.LOCALE_NAMES.get(code, code),
                "url": f"{url}?lang={code}",
                "current": code == lang,
            }
            for code in program.locales
        ],
        "preview_variants": [
            {"key": "", "name": "Without a variant", "url": f"{url}?lang={lang}", "current": True},
            *[
                {
                    "key": variant.key,
                    "name": variant.name,
                    "url": f"{url}?lang={lang}&variant={variant.key}",
                    "current": False,
                }
                for variant in variants
            ],
        ]
        if variants
        else [],
    }


# --- A/B variants ------------------------------------------------------------------------------


def variant_shares(weights: Sequence[int | None]) -> list[str]:
    """Each weight as a share of their sum, for people: "50%", "33.3%"; a dash when none count
    (and nothing for a row without a weight)."""
    total = sum(weight or 0 for weight in weights)
    if total <= 0:
        return ["–" if weight is not None else "" for weight in weights]  # noqa: RUF001
    return [
        f"{round(100 * weight / total, 1):g}%" if weight is not None else "" for weight in weights
    ]


def _variant_rows(program: Program, config: ProgramConfig) -> list[dict[str, Any]]:
    """Each variant with its share of new advocates, what it changes and its headline."""
    if not config.variants:
        return []
    copy = services.program_copy(program).get(_reader_locale(), {})
    weights = [variant.weight for variant in config.variants]
    return [
        {
            "variant": variant,
            "share": share,
            "total": sum(weights),
            "changes": _variant_changes(variant),
            "headline": landing_texts(config, copy, _reader_locale(), variant)["headline"],
        }
        for variant, share in zip(config.variants, variant_shares(weights), strict=True)
    ]


def _variant_changes(variant: Variant) -> list[str]:
    changes = []
    if variant.advocate_reward is not None:
        changes.append(
            gettext("Advocate") + ": " + reward_phrase(variant.advocate_reward, _reader_locale())
        )
    if variant.friend_reward is not None:
        changes.append(
            gettext("Friend") + ": " + reward_phrase(variant.friend_reward, _reader_locale())
        )
    if variant.copy:
        changes.append("Own copy in " + ", ".join(code.upper() for code in sorted(variant.copy)))
    return changes or ["Nothing: the program's offer and copy (a control)"]


def _variant_formset(request: MerchantRequest, program: Program) -> wizard.BaseVariantFormSet:
    config = services.program_config(program)
    pools = [
        (pool.public_id, pool.name)
        for pool in CodePool.objects.filter(program=program).order_by("name")
    ]
    data = request.POST if request.method == "POST" else None
    return cast(
        wizard.BaseVariantFormSet,
        wizard.VariantFormSet(
            data,
            prefix="variants",
            initial=None if data else wizard.variants_initial(config.variants, program.currency),
            form_kwargs={
                "locales": program.locales,
                "default_locale": program.default_locale,
                "currency": program.currency,
                "pools": pools,
            },
        ),
    )


@require_http_methods(["GET", "POST"])
@merchant_view(least_role=Role.ADMIN)
def program_edit_variants(request: MerchantRequest, program_id: str) -> HttpResponse:
    """Edit the A/B variants as a whole (2 to 5, or none: "turn off" saves an empty list).
    On a program that has been live, a change adds a version; advocates keep their variant."""
    program = _program(program_id)
    if program.status == ProgramStatus.ARCHIVED:
        return _archived(request, program)
    formset = _variant_formset(request, program)
    errors, list_errors = _step_errors(), _step_errors()
    turn_off = request.method == "POST" and "turn_off" in request.POST
    if turn_off or (request.method == "POST" and formset.is_valid()):
        variant_forms = [] if turn_off else formset.variant_forms()
        data = {"variants": [form.to_variant() for form in variant_forms]}
        try:
            services.program_update(
                actor=_user(request), program=program, data=data, request=request
            )
        except SpecError as error:
            resolve = wizard.variants_resolver(variant_forms, list_errors)
            wizard.place_errors(error.errors, resolve, fallback=errors)
        else:
            count = len(data["variants"])
            done = f"{count} variants saved." if count else "A/B testing is off."
            messages.success(request, done)
            return _to("program_detail", request, program)
    config = services.program_config(program)
    weights = [_posted_weight(form) for form in formset.forms]
    context = {
        "program": program,
        "formset": formset,
        "rows": list(zip(formset.forms, variant_shares(weights), strict=True)),
        "config": config,
        "step_errors": errors,
        "list_errors": list_errors,
        "shows_advocate": program.type != ProgramType.TIERED,
        "shows_friend": program.type != ProgramType.ONE_SIDED,
        "has_been_live": program.status != ProgramStatus.DRAFT,
        "stripe_connected": request.merchant.stripe_connected,
        **_preview_context(request, program, config),
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "programs/variants.html", context, status=status)


def _posted_weight(form: wizard.VariantForm) -> int | None:
    """The weight the row shows (posted or initial), for the split; not a judgement."""
    value = form["weight"].value()
    if form["DELETE"].value():
        return None
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


# --- Wizard step 1: basics -------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@merchant_view(least_role=Role.ADMIN)
def program_create(request: MerchantRequest) -> HttpResponse:
    form = wizard.BasicsForm(request.POST or None)
    errors = _step_errors()
    if request.method == "POST" and form.is_valid():
        data = form.to_data()
        data.update(wizard.default_config(data["type"], data["currency"]))
        try:
            with collect_warnings() as warnings:
                program = services.program_create(actor=_user(request), data=data, request=request)
        except SpecError as error:
            wizard.place_errors(_basics_only(error.errors), wizard.direct(form), fallback=errors)
        else:
            messages.success(request, f"Draft “{program.name}” created. Now set its rewards.")
            _warn(request, warnings)
            return _to("program_edit_rewards", request, program)
    elif request.method == "POST":
        data = form.to_data()
        data.update(
            wizard.default_config(
                str(data.get("type") or ProgramType.TWO_SIDED), str(data.get("currency") or "EUR")
            )
        )
        _check_rest(None, data, wizard.direct(form), errors, adjust=_basics_only)
    status = 400 if request.method == "POST" else 200
    return _render_step(
        request,
        "programs/step_basics.html",
        StepPage(None, "basics"),
        {"form": form, "step_errors": errors},
        status=status,
    )


def _basics_only(errors: dict[str, str]) -> dict[str, str]:
    """On creation the rewards are our defaults: a problem with them (say, a currency with no
    minor units making 10 an odd default) is reported against the currency the user chose."""
    placed: dict[str, str] = {}
    for path, message in errors.items():
        if path.split(".")[0].split("[")[0] in {"advocate_reward", "friend_reward", "tiers"}:
            placed.setdefault("currency", message)
        else:
            placed[path] = message
    return placed


@require_http_methods(["GET", "POST"])
@merchant_view(least_role=Role.ADMIN)
def program_edit_basics(request: MerchantRequest, program_id: str) -> HttpResponse:
    program = _program(program_id)
    if program.status == ProgramStatus.ARCHIVED:
        return _archived(request, program)
    fixed = program.status != ProgramStatus.DRAFT
    form = wizard.BasicsForm(
        request.POST or None, initial=wizard.basics_initial(program), fixed=fixed
    )
    errors = _step_errors()
    if request.method == "POST" and form.is_valid():
        data = form.to_data()
        if program.type != data["type"]:
            # A draft changing type starts from that type's default rewards.
            data.update(wizard.default_config(data["type"], data["currency"]))
        try:
            with collect_warnings() as warnings:
                services.program_update(
                    actor=_user(request), program=program, data=data, request=request
                )
        except SpecError as error:
            wizard.place_errors(error.errors, wizard.direct(form), fallback=errors)
        else:
            _warn(request, warnings)
            return _saved(request, program, "basics")
    elif request.method == "POST":
        _check_rest(program, _basics_edit_data(program, form), wizard.direct(form), errors)
    return _render_step(
        request,
        "programs/step_basics.html",
        StepPage(program, "basics"),
        {"form": form, "step_errors": errors},
        status=400 if request.method == "POST" else 200,
    )


def _basics_edit_data(program: Program, form: wizard.BasicsForm) -> dict[str, Any]:
    data = form.to_data()
    if data.get("type", program.type) != program.type:
        data.update(wizard.default_config(data["type"], data.get("currency") or program.currency))
    return data


def _archived(request: MerchantRequest, program: Program) -> HttpResponse:
    messages.error(request, gettext("An archived program cannot be edited; duplicate it instead."))
    return _to("program_detail", request, program)


# --- Wizard step 2: rewards ------------------------------------------------------------------


@dataclass
class RewardForms:
    advocate: wizard.RewardFields | None
    friend: wizard.RewardFields | None
    tiers: wizard.BaseTierFormSet | None

    def all_valid(self) -> bool:
        results = [form.is_valid() for form in (self.advocate, self.friend) if form is not None]
        if self.tiers is not None:
            results.append(self.tiers.is_valid())
        return all(results)

    def to_data(self, program_type: str, *, include_invalid: bool = False) -> dict[str, Any]:
        if program_type == ProgramType.TIERED:
            assert self.tiers is not None
            rows = self.tiers.tier_forms(include_invalid=include_invalid)
            return {
                "advocate_reward": None,
                "tiers": [form.to_tier() for form in rows],
                "friend_reward": self.friend.to_spec() if self.friend else None,
            }
        assert self.advocate is not None
        return {
            "advocate_reward": self.advocate.to_spec(),
            "friend_reward": self.friend.to_spec() if self.friend else None,
            "tiers": [],
        }


def _reward_forms(
    request: MerchantRequest, program: Program, posted: QueryDict | None = None
) -> RewardForms:
    config = services.program_config(program)
    currency = program.currency
    pools = [
        (pool.public_id, pool.name)
        for pool in CodePool.objects.filter(program=program).order_by("name")
    ]
    data = posted if posted is not None else (request.POST if request.method == "POST" else None)
    options: dict[str, Any] = {
        "currency": currency,
        "pools": pools,
        "locales": program.locales,
        "default_locale": program.default_locale,
    }
    advocate = friend = None
    tiers = None
    if program.type != ProgramType.TIERED:
        advocate = wizard.RewardFields(
            data,
            prefix="advocate",
            initial=wizard.reward_initial(config.advocate_reward, currency),
            **options,
        )
    if program.type != ProgramType.ONE_SIDED:
        friend = wizard.FriendRewardFields(
            data,
            prefix="friend",
            initial=wizard.reward_initial(config.friend_reward, currency),
            **options,
        )
    if program.type == ProgramType.TIERED:
        tiers = cast(
            wizard.BaseTierFormSet,
            wizard.TierFormSet(
                data,
                prefix="tiers",
                # Bound forms get no initial: a posted row equal to it would count as unchanged,
                # hence empty, and be dropped.
                initial=None if data else wizard.tiers_initial(config.tiers, currency),
                form_kwargs=options,
            ),
        )
    return RewardForms(advocate=advocate, friend=friend, tiers=tiers)


@require_http_methods(["GET", "POST"])
@merchant_view(least_role=Role.ADMIN)
def program_edit_rewards(request: MerchantRequest, program_id: str) -> HttpResponse:
    program = _program(program_id)
    if program.status == ProgramStatus.ARCHIVED:
        return _archived(request, program)
    edit = _tier_edit(request, program)
    if edit is not None:
        done = "Tier added." if "tier_add" in request.POST else "Tier removed."
        forms_now = _reward_forms(request, program, edit)
        return _render_rewards(request, program, forms_now, status=200, notice=done)
    reward_forms = _reward_forms(request, program)
    errors = _step_errors()
    if request.method == "POST" and reward_forms.all_valid():
        try:
            services.program_update(
                actor=_user(request),
                program=program,
                data=reward_forms.to_data(program.type),
                request=request,
            )
        except SpecError as error:
            tier_forms = reward_forms.tiers.tier_forms() if reward_forms.tiers else []
            resolve = wizard.rewards_resolver(
                reward_forms.advocate, reward_forms.friend, tier_forms, reward_forms.tiers
            )
            wizard.place_errors(error.errors, resolve, fallback=errors)
        else:
            return _saved(request, program, "rewards")
    elif request.method == "POST":
        _check_rewards_rest(program, reward_forms, errors)
    return _render_rewards(
        request,
        program,
        reward_forms,
        errors=errors,
        status=400 if request.method == "POST" else 200,
    )


def _tier_edit(request: MerchantRequest, program: Program) -> QueryDict | None:
    """The posted rewards with a tier added ("Add tier") or removed ("Remove"), to re-render
    unsaved; None when the POST is a save (or not a tiered program)."""
    if request.method != "POST" or program.type != ProgramType.TIERED:
        return None
    add = "tier_add" in request.POST
    remove = request.POST.get("tier_remove")
    if not add and remove is None:
        return None
    index = int(remove) if remove is not None and remove.isdigit() else None
    return wizard.formset_rows_edited(request.POST, "tiers", add=add, remove=index)


def _check_rewards_rest(program: Program, reward_forms: RewardForms, errors: forms.Form) -> None:
    """The forms found problems of their own (say, 10.555 EUR): judge what did parse too, so
    every problem of the step shows at once, each next to its field."""
    tier_forms = reward_forms.tiers.tier_forms(include_invalid=True) if reward_forms.tiers else []
    resolve = wizard.rewards_resolver(
        reward_forms.advocate, reward_forms.friend, tier_forms, reward_forms.tiers
    )
    data = reward_forms.to_data(program.type, include_invalid=True)
    _check_rest(program, data, resolve, errors)


def _check_rest(
    program: Program | None,
    data: dict[str, Any],
    resolve: wizard.Resolver,
    errors: forms.Form,
    adjust: Callable[[dict[str, str]], dict[str, str]] | None = None,
) -> None:
    """A step's form refused some fields: have the service judge the fields that parsed too,
    and place its errors where the form has none, so the merchant sees every problem at once
    (not one round of fixes per layer)."""
    try:
        services.program_check(program=program, data=data)
    except SpecError as error:
        found = adjust(error.errors) if adjust is not None else error.errors
        wizard.place_errors(_unplaced(found, resolve), resolve, fallback=errors)


def _unplaced(errors: dict[str, str], resolve: wizard.Resolver) -> dict[str, str]:
    """The service's errors on fields whose form has not already refused them (a field the
    form could not parse was not sent, so its stored value was judged instead)."""
    kept = {}
    for path, message in errors.items():
        placed = resolve(path)
        if placed is not None and placed.field and placed.form.has_error(placed.field):
            continue
        kept[path] = message
    return kept


def _render_rewards(
    request: MerchantRequest,
    program: Program,
    reward_forms: RewardForms,
    *,
    errors: forms.Form | None = None,
    status: int,
    notice: str = "",
) -> HttpResponse:
    context = {
        "tier_edited": notice,
        "advocate_form": reward_forms.advocate,
        "friend_form": reward_forms.friend,
        "tier_formset": reward_forms.tiers,
        "max_tiers": wizard.MAX_TIERS,
        "step_errors": errors if errors is not None else _step_errors(),
        "stripe_connected": request.merchant.stripe_connected,
        "pools_url": _optional_url(
            "code_pool_list", merchant_slug=request.merchant.slug, program_id=program.public_id
        ),
    }
    return _render_step(
        request,
        "programs/step_rewards.html",
        StepPage(program, "rewards"),
        context,
        status=status,
    )


# --- Wizard step 3: rules and fraud ------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@merchant_view(least_role=Role.ADMIN)
def program_edit_rules(request: MerchantRequest, program_id: str) -> HttpResponse:
    program = _program(program_id)
    if program.status == ProgramStatus.ARCHIVED:
        return _archived(request, program)
    config = services.program_config(program)
    form = wizard.RulesForm(
        request.POST or None,
        initial=wizard.rules_initial(config.rules, config.fraud, program.currency),
        currency=program.currency,
    )
    errors = _step_errors()
    if request.method == "POST" and form.is_valid():
        try:
            services.program_update(
                actor=_user(request), program=program, data=form.to_data(), request=request
            )
        except SpecError as error:
            wizard.place_errors(error.errors, wizard.rules_resolver(form), fallback=errors)
        else:
            return _saved(request, program, "rules")
    elif request.method == "POST":
        _check_rest(program, form.to_data(), wizard.rules_resolver(form), errors)
    return _render_step(
        request,
        "programs/step_rules.html",
        StepPage(program, "rules"),
        {"form": form, "step_errors": errors},
        status=400 if request.method == "POST" else 200,
    )


# --- Wizard step 4: copy and branding ----------------------------------------------------------


@require_http_methods(["GET", "POST"])
@merchant_view(least_role=Role.ADMIN)
def program_edit_copy(request: MerchantRequest, program_id: str) -> HttpResponse:
    program = _program(program_id)
    if program.status == ProgramStatus.ARCHIVED:
        return _archived(request, program)
    form = wizard.CopyForm(
        request.POST or None,
        request.FILES or None,
        initial=wizard.copy_initial(program, services.program_copy(program)),
        locales=program.locales,
        default_locale=program.default_locale,
    )
    errors = _step_errors()
    if request.method == "POST" and form.is_valid():
        try:
            with collect_warnings() as warnings:
                _save_copy(request, program, form)
        except SpecError as error:
            wizard.place_errors(error.errors, wizard.copy_resolver(form), fallback=errors)
        else:
            _warn(request, warnings)
            return _saved(request, program, "copy")
    elif request.method == "POST":
        _check_rest(program, form.to_data(), wizard.copy_resolver(form), errors)
    config = services.program_config(program)
    context = {
        "form": form,
        "step_errors": errors,
        "generated": {code: offer_headline(config, code) for code in program.locales},
        **_preview_context(request, program),
    }
    return _render_step(
        request,
        "programs/step_copy.html",
        StepPage(program, "copy"),
        context,
        status=400 if request.method == "POST" else 200,
    )


def _warn(request: MerchantRequest, warnings: list[dict[str, str]]) -> None:
    """What the save changed rather than refused (HTML removed), told, not done silently."""
    for warning in warnings:
        messages.warning(request, warning["message"])


def _save_copy(request: MerchantRequest, program: Program, form: wizard.CopyForm) -> None:
    """Copy, colours and logo together or not at all (a refused logo keeps the old copy too)."""
    with transaction.atomic():
        services.program_update(
            actor=_user(request), program=program, data=form.to_data(), request=request
        )
        logo = form.cleaned_data.get("logo")
        if logo:
            program.refresh_from_db()
            services.program_set_logo(
                actor=_user(request), program=program, upload=logo, request=request
            )


# --- Lifecycle actions -------------------------------------------------------------------------


def _lifecycle(action: str) -> Callable[..., HttpResponse]:
    @require_POST
    @merchant_view(least_role=Role.ADMIN)
    def view(request: MerchantRequest, program_id: str) -> HttpResponse:
        program = _program(program_id)
        try:
            ACTIONS[action](actor=_user(request), program=program, request=request)
        except SpecError as error:
            for path, message in error.errors.items():
                label = "" if path == "status" else f"{wizard.describe_path(path)}: "
                messages.error(request, f"{label}{message}")
        else:
            messages.success(request, f"“{program.name}” {DONE[action]}.")
        return _to("program_detail", request, program)

    view.__name__ = f"program_{action}"
    view.__qualname__ = view.__name__
    return view


program_activate = _lifecycle("activate")
program_pause = _lifecycle("pause")
program_archive = _lifecycle("archive")


@require_POST
@merchant_view(least_role=Role.ADMIN)
def program_duplicate(request: MerchantRequest, program_id: str) -> HttpResponse:
    program = _program(program_id)
    copy = services.program_duplicate(actor=_user(request), program=program, request=request)
    messages.success(request, f"Duplicated as the draft “{copy.name}”.")
    return _to("program_edit_basics", request, copy)
