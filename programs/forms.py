"""Dashboard forms for the program wizard.

The forms only parse what the browser sends into the public JSON shape of a program (DESIGN.md
§3): money in major units becomes minor units, lists typed as text become lists. They do not
judge the values — ranges, tiers, domains and Stripe are judged by `programs.services`, the same
code the API uses — and `place_errors` puts each `SpecError` path back next to its field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.forms import BaseFormSet, formset_factory
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from programs.models import ProgramType
from programs.specs import (
    BUDGET_ACTIONS,
    CAP_PERIODS,
    COMMISSION_KINDS,
    FRAUD_RULES,
    FULFILMENT_METHODS,
    LABEL_KINDS,
    LOCALES,
    MONEY_KINDS,
    OUTCOMES,
    REWARD_KINDS,
    SCORE_ONLY_RULES,
    Fraud,
    RewardSpec,
    Rules,
    Tier,
)
from referral_saas.money import minor_units, to_major

LOCALE_NAMES = {"en": "English", "it": "Italiano", "ro": "Română", "pl": "Polski"}
KIND_LABELS = {
    "percent_discount": _("Percent discount"),
    "fixed_discount": _("Fixed discount"),
    "account_credit": _("Account credit"),
    "cash": _("Cash"),
    "points": _("Points"),
    "free_product": _("Free product, upgrade or gift"),
    "charity_donation": _("Charity donation"),
}
FULFILMENT_LABELS = {
    "generated_code": _("Generated code (we mint a unique code)"),
    "code_pool": _("Code pool (your uploaded codes)"),
    "stripe_promotion_code": _("Stripe promotion code"),
    "stripe_customer_balance": _("Stripe customer balance"),
    "stripe_transfer": _("Stripe transfer (cash to a connected account)"),
    "webhook": _("Webhook (you fulfil, then confirm via the API)"),
    "manual": _("Manual (exported for payout)"),
    "payout": _("Payout (Stripe, PayPal or SEPA, once the minimum is reached)"),
    "shopify_discount_code": _("Shopify discount code (made in your connected shop)"),
    "woocommerce_coupon": _("WooCommerce coupon (made in your connected store)"),
}
OUTCOME_LABELS = {
    "off": _("Off"),
    "reject": _("Reject"),
    "review": _("Hold for review"),
    "score_only": _("Score only"),
}
FRAUD_LABELS = {
    "self_referral": _("Self-referral"),
    "disposable_email": _("Disposable email address"),
    "velocity": _("Too many referrals too fast"),
    "fast_conversion": _("Click-to-purchase too fast"),
    "duplicate_friend": _("Friend already referred"),
    "existing_customer": _("Friend is already a customer"),
    "blocked_country": _("Blocked country"),
    "blocked_email_domain": _("Blocked email domain"),
    "blocked_referrer": _("Blocked referring website"),
    "same_ip_user_agent": _("Same IP and browser as the advocate"),
}
PERIOD_LABELS = {
    "day": _("per day"),
    "week": _("per week"),
    "month": _("per month"),
    "year": _("per year"),
    "lifetime": _("in total"),
}
BUDGET_ACTION_LABELS = {
    "pause_program": _("Pause the program"),
    "stop_rewards": _("Keep the page up, stop new rewards"),
}
LIST_SPLIT = re.compile(r"[\s,;]+")
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


class AmountError(ValueError):
    pass


def to_minor(amount: Decimal | None, currency: str) -> int | None:
    """10.5 EUR → 1050. Refuses more decimals than the currency has (10.555 EUR)."""
    if amount is None:
        return None
    places = minor_units(currency)
    scaled = amount.scaleb(places)
    if scaled != scaled.to_integral_value():
        unit = "whole amounts" if places == 0 else f"at most {places} decimal places"
        raise AmountError(f"{currency} takes {unit}.")
    return int(scaled)


def from_minor(amount: int | None, currency: str) -> Decimal | None:
    """1050 EUR → 10.50; 1000 EUR → 10 (whole amounts without the zero decimals)."""
    if amount is None:
        return None
    major = to_major(amount, currency)
    return major.quantize(Decimal(1)) if major == major.to_integral_value() else major


def split_list(text: str) -> list[str]:
    return [item for item in LIST_SPLIT.split(text or "") if item]


def _choices(values: Iterable[str], labels: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(value, label) pairs; labels are lazy translations, rendered in the reader's language."""
    return [(value, labels.get(value, value)) for value in values]


def _number(**attrs: Any) -> forms.NumberInput:
    return forms.NumberInput(attrs={"inputmode": "numeric", **attrs})


def _money() -> forms.NumberInput:
    return forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"})


def money_step(currency: str) -> str:
    """The input step of an amount in `currency`: 0.01 EUR, 1 JPY, 0.001 KWD."""
    return str(Decimal(1).scaleb(-minor_units(currency)))


# --- Step 1: basics ----------------------------------------------------------------------------


class BasicsForm(forms.Form):
    name = forms.CharField(label=_("Program name"), required=False, max_length=200)
    slug = forms.CharField(
        label=_("Page address"),
        required=False,
        max_length=80,
        help_text=_("The last part of the landing page URL. Empty: made from the name."),
    )
    type = forms.ChoiceField(
        label=_("Type"),
        choices=ProgramType.choices,
        widget=forms.RadioSelect,
        initial=ProgramType.TWO_SIDED,
        help_text=_(
            "One-sided rewards the advocate; two-sided the friend too; tiered rewards "
            "milestones (1, 5, 10 friends…)."
        ),
    )
    currency = forms.CharField(
        label=_("Currency"),
        initial="EUR",
        max_length=3,
        required=False,
        help_text=_("ISO-4217 code, such as EUR, PLN or RON."),
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "size": 4}),
    )
    locales = forms.MultipleChoiceField(
        label=_("Languages of the landing page"),
        choices=_choices(LOCALES, LOCALE_NAMES),
        widget=forms.CheckboxSelectMultiple,
        initial=list(LOCALES),
        required=False,
    )
    default_locale = forms.ChoiceField(
        label=_("Default language"), choices=_choices(LOCALES, LOCALE_NAMES), initial="en"
    )
    destination_url = forms.CharField(
        label=_("Destination URL"),
        required=False,
        max_length=600,
        help_text=_("Where referral links send friends, e.g. https://shop.example.com/."),
        widget=forms.URLInput(attrs={"placeholder": "https://shop.example.com/"}),
    )
    allowed_domains = forms.CharField(
        label=_("Allowed redirect domains"),
        required=False,
        help_text=_("Separated by commas or spaces. Subdomains are allowed too."),
        widget=forms.TextInput(attrs={"placeholder": "shop.example.com"}),
    )
    starts_at = forms.DateTimeField(
        label=_("Starts (UTC, optional)"),
        required=False,
        input_formats=[DATETIME_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_FORMAT),
    )
    ends_at = forms.DateTimeField(
        label=_("Ends (UTC, optional)"),
        required=False,
        input_formats=[DATETIME_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_FORMAT),
    )

    def __init__(self, *args: Any, fixed: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("starts_at", "ends_at"):
            # The browser draws the picker in its own format; say the saved time the way the
            # program page shows it, so the two can be compared at a glance.
            saved = (self.initial or {}).get(name)
            if isinstance(saved, datetime):
                self.fields[name].help_text = f"Saved: {display_datetime(saved)}."
        if fixed:
            # Type and currency judge conversions: fixed once the program has been live.
            for name in ("type", "currency"):
                self.fields[name].disabled = True
                self.fields[name].help_text = _(
                    "Fixed once a program has been live; duplicate it to change."
                )

    def clean_currency(self) -> str:
        return str(self.cleaned_data.get("currency") or "").strip().upper()

    def to_data(self) -> dict[str, Any]:
        """The program's fields as the service takes them. On an invalid form, only the fields
        that parsed (so the service can judge the rest and every error shows at once)."""
        data = self.cleaned_data
        converters: dict[str, Callable[[Any], Any]] = {
            "name": lambda v: v,
            "type": lambda v: v,
            "currency": lambda v: v,
            "locales": list,
            "default_locale": lambda v: v,
            "destination_url": lambda v: v.strip(),
            "allowed_domains": split_list,
            "starts_at": _iso,
            "ends_at": _iso,
        }
        values = {key: convert(data[key]) for key, convert in converters.items() if key in data}
        slug = str(data.get("slug") or "").strip()
        return {"slug": slug, **values} if slug else values


# How the dashboard writes a program's dates (the program page's "Runs" line too).
DISPLAY_DATETIME = "j M Y H:i"


def display_datetime(value: datetime) -> str:
    """2026-12-01T10:00Z → "1 Dec 2026 10:00 UTC"."""
    from django.utils import dateformat, timezone

    return f"{dateformat.format(timezone.localtime(value, UTC), DISPLAY_DATETIME)} UTC"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def basics_initial(program: Any) -> dict[str, Any]:
    return {
        "name": program.name,
        "slug": program.slug,
        "type": program.type,
        "currency": program.currency,
        "locales": list(program.locales),
        "default_locale": program.default_locale,
        "destination_url": program.destination_url,
        "allowed_domains": ", ".join(program.allowed_domains),
        "starts_at": program.starts_at,
        "ends_at": program.ends_at,
    }


# --- Step 2: rewards ---------------------------------------------------------------------------

REWARD_FIELD_NAMES = (
    "kind",
    "value_type",
    "amount",
    "percent",
    "max_amount",
    "recurring_months",
    "points",
    "label",
    "fulfilment",
    "expires_after_days",
    "code_prefix",
    "code_length",
    "code_pool",
)


COMMISSION_PERCENT_LABEL = _("Share of the order (%)")


class RewardFields(forms.Form):
    """One reward spec. Only the value field that fits the kind is sent to the service."""

    kind = forms.ChoiceField(label=_("Reward"), required=False)
    amount = forms.DecimalField(
        label=_("Amount"),
        required=False,
        widget=_money(),
        help_text=_("In the program's currency."),
    )
    # Cash and account credit: a fixed amount, or a commission (a share of the order).
    value_type = forms.ChoiceField(
        label=_("Worth"),
        choices=[("amount", _("Fixed amount")), ("percent", COMMISSION_PERCENT_LABEL)],
        required=False,
    )
    percent = forms.IntegerField(label=_("Percent off"), required=False, widget=_number())
    max_amount = forms.DecimalField(
        label=_("Up to"),
        required=False,
        widget=_money(),
        help_text=_("The most one order earns. Leave empty for no cap."),
    )
    recurring_months = forms.IntegerField(
        label=_("Pays again on a subscription's invoices for (months)"),
        required=False,
        widget=_number(),
        help_text=_("Leave empty to pay on the first order only."),
    )
    points = forms.IntegerField(label=_("Points"), required=False, widget=_number())
    label = forms.CharField(
        label=_("Product, upgrade or charity"),
        required=False,
        max_length=200,
        help_text=_("Shown on the landing page, e.g. “a free coffee”."),
    )
    fulfilment = forms.ChoiceField(
        label=_("Delivered as"),
        choices=_choices(FULFILMENT_METHODS, FULFILMENT_LABELS),
        required=False,
    )
    expires_after_days = forms.IntegerField(
        label=_("Expires after (days)"),
        required=False,
        widget=_number(),
        help_text=_("Leave empty for no expiry."),
    )
    code_prefix = forms.CharField(label=_("Code prefix"), required=False, max_length=40)
    code_length = forms.IntegerField(label=_("Code length"), required=False, widget=_number())
    code_pool = forms.ChoiceField(label=_("Code pool"), required=False)

    blank_kind_label = _("— choose —")

    def __init__(
        self,
        *args: Any,
        currency: str = "EUR",
        pools: Iterable[tuple[str, str]] = (),
        locales: Iterable[str] = (),
        default_locale: str = "",
        recurs: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        if recurs is not None:
            self.recurs = recurs
        # The label in the program's other languages (the label field is the default one's).
        self.label_locales = [code for code in locales if code != default_locale]
        if self.label_locales:
            language = LOCALE_NAMES.get(default_locale, default_locale)
            self.fields["label"].help_text = _(
                "In %(language)s, shown on the landing page, e.g. “a free coffee”."
            ) % {"language": language}
        for code in self.label_locales:
            self.fields[label_field(code)] = forms.CharField(
                label=LOCALE_NAMES.get(code, code),
                required=False,
                max_length=200,
                help_text=_("Empty: the text above is shown."),
            )
        kind = cast(forms.ChoiceField, self.fields["kind"])
        kind.choices = [("", self.blank_kind_label), *_choices(REWARD_KINDS, KIND_LABELS)]
        pool = cast(forms.ChoiceField, self.fields["code_pool"])
        pool.choices = [("", _("— choose a pool —")), *pools]
        self.fields["amount"].label = _("Amount (%(currency)s)") % {"currency": currency}
        self.fields["amount"].widget.attrs["step"] = money_step(currency)
        self.fields["max_amount"].label = _("Up to (%(currency)s)") % {"currency": currency}
        self.fields["max_amount"].widget.attrs["step"] = money_step(currency)
        # A commission's percent is a share of the order, not a discount (programs.js swaps it).
        percent_field = self.fields["percent"]
        percent_field.widget.attrs["data-commission-label"] = COMMISSION_PERCENT_LABEL
        percent_field.widget.attrs["data-discount-label"] = percent_field.label
        if self.is_commission(self._shown_values()):
            percent_field.label = COMMISSION_PERCENT_LABEL
        if not self.recurs:  # only the advocate's own reward recurs (programs.specs)
            del self.fields["recurring_months"]
        for name in REWARD_FIELD_NAMES:
            if name not in self.fields:
                continue
            # Lets programs.js show only the fields that fit the chosen kind and method.
            self.fields[name].widget.attrs["data-reward-field"] = name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.is_commission(data):
            if data.get("max_amount") is not None:
                self._to_minor(data, "max_amount")
        elif data.get("kind") in MONEY_KINDS and data.get("amount") is not None:
            self._to_minor(data, "amount")
        return data

    def _to_minor(self, data: dict[str, Any], name: str) -> None:
        try:
            data[f"{name}_minor"] = to_minor(data[name], self.currency)
        except AmountError as error:
            self.add_error(name, str(error))

    def _shown_values(self) -> dict[str, Any]:
        if self.is_bound:
            return {name: self.data.get(self.add_prefix(name)) for name in ("kind", "value_type")}
        return {name: (self.initial or {}).get(name) for name in ("kind", "value_type")}

    @staticmethod
    def is_commission(data: Mapping[str, Any]) -> bool:
        return data.get("kind") in COMMISSION_KINDS and data.get("value_type") == "percent"

    def has_reward(self) -> bool:
        return bool(self.cleaned_data.get("kind"))

    def label_fields(self) -> list[forms.BoundField]:
        return [self[label_field(code)] for code in self.label_locales]

    def labels_open(self) -> bool:
        """Open the translations when one holds text or an error."""
        return any(field.value() or field.errors for field in self.label_fields())

    def to_spec(self) -> dict[str, Any] | None:
        data = self.cleaned_data
        kind = data.get("kind")
        if not kind:
            return None
        spec: dict[str, Any] = {
            **self._carried(kind),
            "kind": kind,
            "fulfilment": data.get("fulfilment") or None,
        }
        if kind == "percent_discount":
            spec["percent"] = data.get("percent")
        elif self.is_commission(data):
            spec["percent"] = data.get("percent")
            if data.get("max_amount_minor") is not None:
                spec["max_amount"] = data["max_amount_minor"]
            if data.get("recurring_months") is not None:
                spec["recurring_months"] = data["recurring_months"]
        elif kind in MONEY_KINDS:
            spec["amount"] = data.get("amount_minor")
        elif kind == "points":
            spec["points"] = data.get("points")
        if data.get("label"):
            spec["label"] = data["label"]
        labels = {
            code: data[label_field(code)]
            for code in self.label_locales
            if data.get(label_field(code))
        }
        if labels and kind in LABEL_KINDS:
            spec["labels"] = labels
        if data.get("expires_after_days") is not None:
            spec["expires_after_days"] = data["expires_after_days"]
        if spec["fulfilment"] == "generated_code":
            spec["code_prefix"] = data.get("code_prefix") or ""
            if data.get("code_length") is not None:
                spec["code_length"] = data["code_length"]
        if spec["fulfilment"] == "code_pool":
            spec["code_pool"] = data.get("code_pool") or ""
        return spec

    # What the form decides itself; any other key of the stored spec is carried as it was.
    OWNED_KEYS = frozenset(
        {
            "kind",
            "amount",
            "currency",
            "percent",
            "max_amount",
            "points",
            "label",
            "labels",
            "fulfilment",
            "expires_after_days",
            "code_prefix",
            "code_length",
            "code_pool",
        }
    )
    # Whether the reward may recur (`recurring_months`): the advocate's own reward only.
    recurs = True

    def owned_keys(self) -> frozenset[str]:
        return self.OWNED_KEYS | (
            {"recurring_months"} if "recurring_months" in self.fields else set()
        )

    def _carried(self, kind: str) -> dict[str, Any]:
        """The stored spec's fields this form does not show (`reward_initial` keeps the spec),
        so saving the step never drops what the API set; only while the kind is unchanged."""
        stored = (self.initial or {}).get(STORED_SPEC) or {}
        if stored.get("kind") != kind:
            return {}
        return {key: value for key, value in stored.items() if key not in self.owned_keys()}


def label_field(locale: str) -> str:
    return f"label_{locale}"


class FriendRewardFields(RewardFields):
    blank_kind_label = _("No friend reward")
    recurs = False


# The key of `reward_initial` holding the stored spec itself (not a field).
STORED_SPEC = "stored_spec"


def reward_initial(spec: RewardSpec | None, currency: str) -> dict[str, Any]:
    if spec is None:
        return {"fulfilment": "generated_code", "code_length": 10, "value_type": "amount"}
    commission = spec.kind in COMMISSION_KINDS and spec.percent is not None
    return {
        STORED_SPEC: spec.to_dict(),
        "kind": spec.kind,
        "value_type": "percent" if commission else "amount",
        "amount": from_minor(spec.amount, currency),
        "max_amount": from_minor(spec.max_amount, currency),
        "recurring_months": spec.recurring_months,
        "percent": spec.percent,
        "points": spec.points,
        "label": spec.label,
        "fulfilment": spec.fulfilment,
        "expires_after_days": spec.expires_after_days,
        "code_prefix": spec.code_prefix,
        "code_length": spec.code_length,
        "code_pool": spec.code_pool,
        **{label_field(code): text for code, text in spec.labels.items()},
    }


class TierForm(RewardFields):
    recurs = False
    threshold = forms.IntegerField(
        label=_("After this many qualified friends"), required=False, widget=_number()
    )
    repeat = forms.BooleanField(
        label=_("Repeat every time this many more qualify (last tier only)"), required=False
    )

    field_order = ["threshold", *REWARD_FIELD_NAMES, "repeat"]

    def is_blank(self) -> bool:
        data = self.cleaned_data
        return data.get("threshold") is None and not data.get("kind")

    def to_tier(self) -> dict[str, Any]:
        return {
            "threshold": self.cleaned_data.get("threshold"),
            "reward": self.to_spec(),
            "repeat": bool(self.cleaned_data.get("repeat")),
        }


if TYPE_CHECKING:
    _TierFormSetBase = BaseFormSet[TierForm]
else:
    _TierFormSetBase = BaseFormSet


class BaseTierFormSet(_TierFormSetBase):
    def tier_forms(self, *, include_invalid: bool = False) -> list[TierForm]:
        """The filled-in, not removed tier forms, in order: index i here is `tiers[i]`. With
        `include_invalid`, also those the form refused (what parsed of them is sent), so the
        indexes still match when some rows have errors."""
        return [
            form
            for form in self.forms
            if (form.is_valid() or include_invalid)
            and not form.is_blank()
            and not form.cleaned_data.get("DELETE")
        ]


TierFormSet = formset_factory(
    TierForm, formset=BaseTierFormSet, extra=1, can_delete=True, max_num=20, absolute_max=20
)


MAX_TIERS = 20


def formset_rows_edited(
    data: QueryDict, prefix: str, *, add: bool = False, remove: int | None = None
) -> QueryDict:
    """The posted formset with row `remove` taken out (the rows after it renumbered) and/or an
    empty row added at the end, everything else as posted: the "Add tier" and "Remove" submit
    buttons re-render the step from it, so they work without script and lose nothing typed."""
    total = min(_int(data.get(f"{prefix}-TOTAL_FORMS")), MAX_TIERS)
    rows: list[dict[str, list[str]]] = []
    for index in range(total):
        head = f"{prefix}-{index}-"
        rows.append({key[len(head) :]: data.getlist(key) for key in data if key.startswith(head)})
    if remove is not None and 0 <= remove < len(rows):
        rows.pop(remove)
    if add and len(rows) < MAX_TIERS:
        rows.append({})
    edited = QueryDict(mutable=True)
    for key in data:
        if not key.startswith(f"{prefix}-"):
            edited.setlist(key, data.getlist(key))
    for index, row in enumerate(rows):
        for name, values in row.items():
            edited.setlist(f"{prefix}-{index}-{name}", values)
    edited.update(
        {
            f"{prefix}-TOTAL_FORMS": str(len(rows)),
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": str(MAX_TIERS),
        }
    )
    return edited


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def tiers_initial(tiers: Iterable[Tier], currency: str) -> list[dict[str, Any]]:
    return [
        {
            **reward_initial(tier.reward, currency),
            "threshold": tier.threshold,
            "repeat": tier.repeat,
        }
        for tier in tiers
    ]


# --- Step 3: rules and fraud ----------------------------------------------------------------


class RulesForm(forms.Form):
    attribution_window_days = forms.IntegerField(
        label=_("Attribution window (days)"),
        required=False,
        widget=_number(),
        help_text=_("How long after a click a purchase still counts."),
    )
    min_order_amount = forms.DecimalField(
        label=_("Minimum order amount"), required=False, widget=_money()
    )
    first_purchase_only = forms.BooleanField(
        label=_("Only the friend's first purchase"), required=False
    )
    new_customers_only = forms.BooleanField(label=_("Only new customers"), required=False)
    one_referrer_per_friend = forms.BooleanField(
        label=_("One referrer per friend (the first advocate keeps the friend)"), required=False
    )
    hold_days = forms.IntegerField(
        label=_("Hold rewards for (days)"),
        required=False,
        widget=_number(min=0, max=90),
        help_text=_("0–90 days. A refund inside the hold voids the reward."),  # noqa: RUF001
    )
    max_rewards_per_advocate = forms.IntegerField(
        label=_("Cap per advocate"),
        required=False,
        widget=_number(),
        help_text=_("Empty for no cap."),
    )
    max_rewards_period = forms.ChoiceField(
        label=_("Cap period"), choices=_choices(CAP_PERIODS, PERIOD_LABELS), required=False
    )
    budget_amount = forms.DecimalField(
        label=_("Program budget"),
        required=False,
        widget=_money(),
        help_text=_("Empty for no budget."),
    )
    budget_action = forms.ChoiceField(
        label=_("When the budget runs out"),
        choices=_choices(BUDGET_ACTIONS, BUDGET_ACTION_LABELS),
        required=False,
    )
    velocity_per_advocate_per_day = forms.IntegerField(
        label=_("Referrals per advocate per day"), required=False, widget=_number()
    )
    velocity_per_ip_per_day = forms.IntegerField(
        label=_("Referrals per IP address per day"), required=False, widget=_number()
    )
    min_seconds_click_to_conversion = forms.IntegerField(
        label=_("Fastest believable click-to-purchase (seconds)"), required=False, widget=_number()
    )
    blocked_countries = forms.CharField(
        label=_("Blocked countries"),
        required=False,
        help_text=_("Two-letter codes, e.g. RU, KP."),
    )
    blocked_email_domains = forms.CharField(
        label=_("Blocked email domains"), required=False, help_text=_("e.g. example.net")
    )
    velocity_per_program_per_hour = forms.IntegerField(
        label=_("Referrals per hour, whole program"),
        required=False,
        widget=_number(min=1),
        help_text=_("Empty for no program-wide limit."),
    )
    blocked_referring_domains = forms.CharField(
        label=_("Blocked referring websites"),
        required=False,
        help_text=_(
            "Domains whose links may not send friends, e.g. coupons.example.net. "
            "Separated by commas or spaces; subdomains are blocked too."
        ),
    )

    RULE_FIELDS = (
        "attribution_window_days",
        "min_order_amount",
        "first_purchase_only",
        "new_customers_only",
        "one_referrer_per_friend",
        "hold_days",
        "max_rewards_per_advocate",
        "max_rewards_period",
        "budget_amount",
        "budget_action",
    )
    THRESHOLD_FIELDS = (
        "velocity_per_advocate_per_day",
        "velocity_per_ip_per_day",
        "min_seconds_click_to_conversion",
        "blocked_countries",
        "blocked_email_domains",
        "velocity_per_program_per_hour",
        "blocked_referring_domains",
    )
    # Empty means "no limit" (sent as null), not "keep the stored value".
    NULLABLE_THRESHOLDS = ("velocity_per_program_per_hour",)
    MONEY_FIELDS = ("min_order_amount", "budget_amount")

    def __init__(self, *args: Any, currency: str = "EUR", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        for rule in FRAUD_RULES:
            allowed = ("off", "score_only") if rule in SCORE_ONLY_RULES else OUTCOMES
            self.fields[fraud_field(rule)] = forms.ChoiceField(
                label=FRAUD_LABELS.get(rule, rule),
                choices=_choices(allowed, OUTCOME_LABELS),
                required=False,
            )
        for name in self.MONEY_FIELDS:
            self.fields[name].label = f"{self.fields[name].label} ({currency})"
            self.fields[name].widget.attrs["step"] = money_step(currency)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in self.MONEY_FIELDS:
            try:
                data[name + "_minor"] = to_minor(data.get(name), self.currency)
            except AmountError as error:
                self.add_error(name, str(error))
        return data

    def fraud_fields(self) -> list[forms.BoundField]:
        return [self[fraud_field(rule)] for rule in FRAUD_RULES]

    def to_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        rules: dict[str, Any] = {}
        for name in self.RULE_FIELDS:
            value = data.get(name + "_minor") if name in self.MONEY_FIELDS else data.get(name)
            if value in (None, "") and name not in {"max_rewards_per_advocate", "budget_amount"}:
                continue  # the service keeps its default
            rules[name] = value
        fraud: dict[str, Any] = {
            rule: data[fraud_field(rule)] for rule in FRAUD_RULES if data.get(fraud_field(rule))
        }
        thresholds: dict[str, Any] = {}
        for name in self.THRESHOLD_FIELDS:
            value = data.get(name)
            if name.startswith("blocked_"):
                thresholds[name] = split_list(value or "")
            elif value is not None or name in self.NULLABLE_THRESHOLDS:
                thresholds[name] = value
        fraud["thresholds"] = thresholds
        return {"rules": rules, "fraud": fraud}


def fraud_field(rule: str) -> str:
    return f"fraud_{rule}"


def rules_initial(rules: Rules, fraud: Fraud, currency: str) -> dict[str, Any]:
    initial: dict[str, Any] = dict(rules.to_dict())
    initial["min_order_amount"] = from_minor(rules.min_order_amount, currency)
    initial["budget_amount"] = from_minor(rules.budget_amount, currency)
    for rule, outcome in fraud.outcomes.items():
        initial[fraud_field(rule)] = outcome
    initial.update(
        velocity_per_advocate_per_day=fraud.velocity_per_advocate_per_day,
        velocity_per_ip_per_day=fraud.velocity_per_ip_per_day,
        min_seconds_click_to_conversion=fraud.min_seconds_click_to_conversion,
        blocked_countries=", ".join(fraud.blocked_countries),
        blocked_email_domains=", ".join(fraud.blocked_email_domains),
        velocity_per_program_per_hour=fraud.velocity_per_program_per_hour,
        blocked_referring_domains=", ".join(fraud.blocked_referring_domains),
    )
    return initial


# --- Step 4: copy and branding ----------------------------------------------------------------

COPY_KEYS = ("headline", "description", "terms")


class CopyForm(forms.Form):
    brand_color = forms.CharField(
        label=_("Brand colour"), widget=forms.TextInput(attrs={"type": "color"}), required=False
    )
    accent_color = forms.CharField(
        label=_("Accent colour"), widget=forms.TextInput(attrs={"type": "color"}), required=False
    )
    logo = forms.FileField(
        label=_("Logo"),
        required=False,
        help_text=_("PNG, JPEG, WebP or GIF, at most 1 MB."),
        widget=forms.ClearableFileInput(
            attrs={"accept": "image/png,image/jpeg,image/webp,image/gif"}
        ),
    )

    def __init__(
        self,
        *args: Any,
        locales: Iterable[str] = LOCALES,
        default_locale: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.locales = list(locales)
        self.default_locale = default_locale
        for locale in self.locales:
            name = LOCALE_NAMES.get(locale, locale)
            if locale != default_locale:
                # The default language's name is the program's own (Basics).
                self.fields[copy_field(locale, "name")] = forms.CharField(
                    label=_("Program name (%(language)s)") % {"language": name},
                    required=False,
                    max_length=120,
                    help_text=_("Empty: the program's name is shown."),
                )
            self.fields[copy_field(locale, "headline")] = forms.CharField(
                label=_("Headline (%(language)s)") % {"language": name},
                required=False,
                max_length=400,
                help_text=_("Empty: we write it from the rewards."),
            )
            self.fields[copy_field(locale, "description")] = forms.CharField(
                label=_("Description (%(language)s)") % {"language": name},
                required=False,
                widget=forms.Textarea(attrs={"rows": 3}),
            )
            self.fields[copy_field(locale, "terms")] = forms.CharField(
                label=_("Terms (%(language)s)") % {"language": name},
                required=False,
                widget=forms.Textarea(attrs={"rows": 3}),
            )

    def locale_fields(self) -> list[tuple[str, str, list[forms.BoundField]]]:
        return [
            (
                locale,
                LOCALE_NAMES.get(locale, locale),
                [self[name] for name in self._names(locale)],
            )
            for locale in self.locales
        ]

    def _names(self, locale: str) -> list[str]:
        keys = ("name", *COPY_KEYS)
        return [copy_field(locale, k) for k in keys if copy_field(locale, k) in self.fields]

    def to_data(self) -> dict[str, Any]:
        data = self.cleaned_data
        branding = {key: data[key] for key in ("brand_color", "accent_color") if data.get(key)}
        copy = {
            locale: {
                name.removeprefix(f"{locale}_"): data.get(name) or ""
                for name in self._names(locale)
            }
            for locale in self.locales
        }
        return {"branding": branding, "copy": copy}


def copy_field(locale: str, key: str) -> str:
    return f"{locale}_{key}"


def copy_initial(program: Any, copy: dict[str, dict[str, str]]) -> dict[str, Any]:
    initial: dict[str, Any] = {
        "brand_color": program.brand_color,
        "accent_color": program.accent_color,
    }
    for locale, texts in copy.items():
        for key in ("name", *COPY_KEYS):
            initial[copy_field(locale, key)] = texts.get(key, "")
    return initial


# --- Default configuration for a new draft ------------------------------------------------------


def default_config(program_type: str, currency: str) -> dict[str, Any]:
    """A valid starting point the rewards step then edits: 10 (in major units) each side."""
    try:
        ten = to_minor(Decimal(10), currency) or 1000
    except (AmountError, ValueError, KeyError):
        ten = 1000

    def credit(amount: int) -> dict[str, Any]:
        return {"kind": "account_credit", "amount": amount, "fulfilment": "generated_code"}

    if program_type == ProgramType.TIERED:
        return {
            "tiers": [
                {"threshold": 1, "reward": credit(ten)},
                {"threshold": 5, "reward": credit(ten * 75 // 10)},
            ]
        }
    if program_type == ProgramType.TWO_SIDED:
        friend = {"kind": "fixed_discount", "amount": ten, "fulfilment": "generated_code"}
        return {"advocate_reward": credit(ten), "friend_reward": friend}
    return {"advocate_reward": credit(ten)}


# --- Putting service errors next to their fields -------------------------------------------------


@dataclass
class Placed:
    form: forms.BaseForm
    field: str | None


Resolver = Callable[[str], Placed | None]


def place_errors(errors: dict[str, str], resolve: Resolver, fallback: forms.BaseForm) -> None:
    """Attach each `SpecError` message to the field its path names; paths no form on this
    step shows become form-level errors of `fallback`, prefixed with the path in words."""
    for path, message in errors.items():
        placed = resolve(path)
        if placed is not None and (placed.field is None or placed.field in placed.form.fields):
            placed.form.add_error(placed.field, message)
        else:
            fallback.add_error(None, f"{describe_path(path)}: {message}")


def describe_path(path: str) -> str:
    words = re.sub(r"\[(\d+)\]", lambda m: f" {int(m.group(1)) + 1}", path)
    return " › ".join(part.replace("_", " ") for part in words.split(".")).capitalize()  # noqa: RUF001


def direct(form: forms.BaseForm, mapping: dict[str, str] | None = None) -> Resolver:
    """Paths equal to field names (or listed in `mapping`) land on that field."""

    def resolve(path: str) -> Placed | None:
        name = (mapping or {}).get(path, path)
        return Placed(form, name) if name in form.fields else None

    return resolve


REWARD_PATH = re.compile(r"^(advocate_reward|friend_reward)(?:\.(\w+(?:\.\w+)?))?$")
TIER_PATH = re.compile(r"^tiers\[(\d+)\](?:\.(threshold|repeat)|\.reward(?:\.(\w+(?:\.\w+)?))?)?$")


def _reward_field(key: str | None) -> str:
    if key is None:
        return "kind"
    if key.startswith("labels."):
        return label_field(key.removeprefix("labels."))
    return "amount" if key == "currency" else key


def rewards_resolver(
    advocate: RewardFields | None,
    friend: RewardFields | None,
    tiers: list[TierForm],
    formset: BaseTierFormSet | None,
) -> Resolver:
    def resolve(path: str) -> Placed | None:
        match = REWARD_PATH.match(path)
        if match:
            form = advocate if match.group(1) == "advocate_reward" else friend
            return Placed(form, _reward_field(match.group(2))) if form is not None else None
        match = TIER_PATH.match(path)
        if match and int(match.group(1)) < len(tiers):
            tier = tiers[int(match.group(1))]
            if match.group(2):
                return Placed(tier, match.group(2))
            return Placed(tier, _reward_field(match.group(3)))
        if path == "tiers" and formset is not None and tiers:
            return Placed(tiers[0], "threshold")
        return None

    return resolve


def rules_resolver(form: RulesForm) -> Resolver:
    def resolve(path: str) -> Placed | None:
        if path.startswith("rules."):
            return Placed(form, path.removeprefix("rules."))
        if path.startswith("fraud.thresholds."):
            return Placed(form, path.removeprefix("fraud.thresholds."))
        if path.startswith("fraud."):
            return Placed(form, fraud_field(path.removeprefix("fraud.")))
        return None

    return resolve


def copy_resolver(form: CopyForm) -> Resolver:
    def resolve(path: str) -> Placed | None:
        if path.startswith("branding."):
            return Placed(form, path.removeprefix("branding."))
        match = re.match(r"^copy\.(\w+)\.(name|headline|description|terms)$", path)
        if match:
            return Placed(form, copy_field(match.group(1), match.group(2)))
        if path == "logo":
            return Placed(form, "logo")
        return None

    return resolve


# --- A/B variants -------------------------------------------------------------------------------

MAX_VARIANTS = 5
VARIANT_COPY_KEYS = ("headline", "description")


class VariantForm(forms.Form):
    """One A/B variant: its key, name and weight, optional reward overrides (each the same
    reward sub-form as the rewards step, switched on by its checkbox) and optional copy per
    program locale. Empty copy falls back to the program's."""

    key = forms.CharField(
        label=_("Key"),
        required=False,
        help_text=_("a-z, 0-9, - and _."),
        widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false"}),
    )
    name = forms.CharField(label=_("Name"), required=False)
    weight = forms.IntegerField(
        label=_("Weight (%)"),
        required=False,
        widget=_number(min=0, max=100, **{"data-variant-weight": ""}),
        help_text=_("0–100, relative to the other variants."),  # noqa: RUF001
    )
    advocate_override = forms.BooleanField(label=_("Change the advocate reward"), required=False)
    friend_override = forms.BooleanField(label=_("Change the friend reward"), required=False)

    def __init__(
        self,
        *args: Any,
        locales: Iterable[str] = LOCALES,
        currency: str = "EUR",
        pools: Iterable[tuple[str, str]] = (),
        default_locale: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # Every row is judged whether or not it changed from its initial values: a pre-filled
        # row the merchant accepts as is must be saved, not skipped as "untouched".
        self.empty_permitted = False
        self.locales = list(locales)
        initial = self.initial or {}
        options: dict[str, Any] = {
            "currency": currency,
            "pools": list(pools),
            "locales": list(locales),
            "default_locale": default_locale,
        }
        self.advocate = RewardFields(
            self.data if self.is_bound else None,
            prefix=f"{self.prefix}-advocate",
            initial=initial.get("advocate_reward") or reward_initial(None, currency),
            **options,
        )
        self.friend = RewardFields(
            self.data if self.is_bound else None,
            recurs=False,
            prefix=f"{self.prefix}-friend",
            initial=initial.get("friend_reward") or reward_initial(None, currency),
            **options,
        )
        for locale in self.locales:
            name = LOCALE_NAMES.get(locale, locale)
            self.fields[copy_field(locale, "headline")] = forms.CharField(
                label=_("Headline (%(language)s)") % {"language": name}, required=False
            )
            self.fields[copy_field(locale, "description")] = forms.CharField(
                label=_("Description (%(language)s)") % {"language": name},
                required=False,
                widget=forms.Textarea(attrs={"rows": 2}),
            )

    def is_valid(self) -> bool:
        valid = super().is_valid()
        # A reward sub-form only counts when its override is ticked.
        return all([valid, *[form.is_valid() for form in self.overrides()]])

    def overrides(self) -> list[RewardFields]:
        data = getattr(self, "cleaned_data", {})
        sides = [("advocate_override", self.advocate), ("friend_override", self.friend)]
        return [form for name, form in sides if data.get(name)]

    def copy_fields(self) -> list[tuple[str, str, list[forms.BoundField]]]:
        return [
            (
                locale,
                LOCALE_NAMES.get(locale, locale),
                [self[copy_field(locale, k)] for k in VARIANT_COPY_KEYS],
            )
            for locale in self.locales
        ]

    def has_copy(self) -> bool:
        """Open the copy section when it holds text or an error."""
        names = [copy_field(locale, k) for locale in self.locales for k in VARIANT_COPY_KEYS]
        return any(self[name].value() or self[name].errors for name in names)

    def is_empty_row(self) -> bool:
        """Nothing typed or stored here (read before validation, for showing spare rows)."""
        names = ("key", "name", "weight", "advocate_override", "friend_override")
        return (
            not any(self[name].value() not in (None, "", False) for name in names)
            and not self.has_copy()
            and not self.errors
        )

    def is_blank(self) -> bool:
        data = self.cleaned_data
        return (
            not data.get("key")
            and not data.get("name")
            and data.get("weight") is None
            and not self.overrides()
            and not self.has_copy()
        )

    def to_variant(self) -> dict[str, Any]:
        data = self.cleaned_data
        copy: dict[str, dict[str, str]] = {}
        for locale in self.locales:
            texts = {
                key: data[copy_field(locale, key)]
                for key in VARIANT_COPY_KEYS
                if data.get(copy_field(locale, key))
            }
            if texts:
                copy[locale] = texts
        return {
            "key": data.get("key") or "",
            "name": data.get("name") or "",
            "weight": data.get("weight"),
            # Ticked but no kind chosen: {} lets the service say "Describe the reward".
            "advocate_reward": (self.advocate.to_spec() or {})
            if data.get("advocate_override")
            else None,
            "friend_reward": (self.friend.to_spec() or {}) if data.get("friend_override") else None,
            "copy": copy,
        }


if TYPE_CHECKING:
    _VariantFormSetBase = BaseFormSet[VariantForm]
else:
    _VariantFormSetBase = BaseFormSet


class BaseVariantFormSet(_VariantFormSetBase):
    def add_fields(self, form: VariantForm, index: int | None) -> None:
        super().add_fields(form, index)
        form.fields["DELETE"].label = _("Remove this variant")

    def variant_forms(self) -> list[VariantForm]:
        """The filled-in, not removed variant forms, in order: index i here is `variants[i]`."""
        return [
            form
            for form in self.forms
            if form.is_valid() and not form.is_blank() and not form.cleaned_data.get("DELETE")
        ]


VariantFormSet = formset_factory(
    VariantForm,
    formset=BaseVariantFormSet,
    extra=0,
    can_delete=True,
    max_num=MAX_VARIANTS,
    absolute_max=MAX_VARIANTS,
)


def variants_initial(variants: Iterable[Any], currency: str) -> list[dict[str, Any]]:
    """One row per stored variant, then empty rows up to five. With A/B testing off, the first
    two rows are suggested as an even split (“a” and “b”), ready to edit."""
    rows: list[dict[str, Any]] = []
    for variant in variants:
        row: dict[str, Any] = {
            "key": variant.key,
            "name": variant.name,
            "weight": variant.weight,
            "advocate_override": variant.advocate_reward is not None,
            "friend_override": variant.friend_reward is not None,
            "advocate_reward": reward_initial(variant.advocate_reward, currency)
            if variant.advocate_reward
            else None,
            "friend_reward": reward_initial(variant.friend_reward, currency)
            if variant.friend_reward
            else None,
        }
        for locale, texts in variant.copy.items():
            for key in VARIANT_COPY_KEYS:
                row[copy_field(locale, key)] = texts.get(key, "")
        rows.append(row)
    if not rows:
        rows = [
            {"key": "a", "name": "A (control)", "weight": 50},
            {"key": "b", "name": "B", "weight": 50},
        ]
    return rows + [{} for _ in range(MAX_VARIANTS - len(rows))]


VARIANT_PATH = re.compile(
    r"^variants\[(\d+)\](?:\.(key|name|weight)"
    r"|\.(advocate_reward|friend_reward)(?:\.(\w+(?:\.\w+)?))?"
    r"|\.copy\.(\w+)(?:\.(headline|description))?)?$"
)


def variants_resolver(variant_forms: list[VariantForm], list_errors: forms.BaseForm) -> Resolver:
    """`variants` (the list as a whole) lands above the list; `variants[i]…` on row i's field,
    its reward sub-form's field, or its copy field."""

    def resolve(path: str) -> Placed | None:
        if path == "variants":
            return Placed(list_errors, None)
        match = VARIANT_PATH.match(path)
        if not match or int(match.group(1)) >= len(variant_forms):
            return None
        form = variant_forms[int(match.group(1))]
        field, side, reward_key, locale, copy_key = match.group(2, 3, 4, 5, 6)
        if field:
            return Placed(form, field)
        if side:
            sub = form.advocate if side == "advocate_reward" else form.friend
            return Placed(sub, _reward_field(reward_key))
        if locale and copy_key:
            return Placed(form, copy_field(locale, copy_key))
        return Placed(form, None)

    return resolve
