from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from retention.models import MONTH_CHOICES


class RetentionPolicyForm(forms.Form):
    click_personal_months = forms.TypedChoiceField(
        label=_("Clear clicks' personal fields after (months)"),
        choices=MONTH_CHOICES,
        coerce=int,
    )
    referral_email_months = forms.TypedChoiceField(
        label=_("Clear the emails of friends who never ordered after (months)"),
        choices=MONTH_CHOICES,
        coerce=int,
        help_text=_(
            "Never under 12 months: an order inside the longest attribution window (365 days) "
            "must still find its friend."
        ),
    )
