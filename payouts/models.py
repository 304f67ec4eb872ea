"""Money out: what an advocate is owed in cash, grouped into payouts, and where to send it.

- `PayoutDetails`: one advocate's payout account (a Stripe Express account, a PayPal email or an
  IBAN), stored minimally; the IBAN encrypted at rest (`referral_saas.crypto`) and shown masked.
- `PayoutAccount`: the merchant's side (PayPal API credentials, the SEPA debtor account).
- `ProgramPayoutPolicy`: a program's minimum payout amount.
- `Payout`: one transfer of money to one advocate, `due → processing → paid | failed`.
- `PayoutItem`: the ledger line of one reward in one payout: an *earning* (the reward's amount)
  or a *deduction* (a reward already paid and later refunded: minus its amount, carried to the
  next payout). A reward has at most one live earning and one live deduction (partial unique
  constraints), so it is never paid twice; a failed payout releases its lines (`active=False`).
"""

from __future__ import annotations

import functools

from django.db import models
from django.utils import timezone

from referral_saas.crypto import EncryptedTextField
from referral_saas.ids import new_public_id
from referral_saas.tenancy import TenantModel


class PayoutMethod(models.TextChoices):
    STRIPE_TRANSFER = "stripe_transfer", "Stripe transfer"
    PAYPAL = "paypal", "PayPal"
    SEPA_CREDIT_TRANSFER = "sepa_credit_transfer", "SEPA credit transfer"
    MANUAL = "manual", "Manual"


class PayoutStatus(models.TextChoices):
    DUE = "due", "Due"
    PROCESSING = "processing", "Processing"
    PAID = "paid", "Paid"
    FAILED = "failed", "Failed"


class PayoutDetails(TenantModel):
    """Where one advocate wants to be paid. `method` is their choice among the accounts given."""

    advocate = models.OneToOneField("tracking.Advocate", on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=32, choices=PayoutMethod.choices, blank=True)
    # Stripe Express account created for the advocate (`acct_…`), and whether onboarding ended
    # with payouts enabled (read back from Stripe on the return URL).
    stripe_account_id = models.CharField(max_length=64, blank=True)
    stripe_payouts_enabled = models.BooleanField(default=False)
    paypal_email = models.EmailField(blank=True)
    # The IBAN in its compact form, encrypted; `iban_last4` and `iban_country` are what we show.
    iban = EncryptedTextField(blank=True)
    iban_country = models.CharField(max_length=2, blank=True)
    iban_last4 = models.CharField(max_length=4, blank=True)
    bic = models.CharField(max_length=11, blank=True)
    account_holder = models.CharField(max_length=70, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    @property
    def iban_masked(self) -> str:
        if not self.iban_last4:
            return ""
        return f"{self.iban_country}•• •••• •••• {self.iban_last4}"


class PayoutAccount(TenantModel):
    """The merchant's payout settings: PayPal REST credentials (client credentials grant) and
    the bank account SEPA files debit. One row per merchant."""

    paypal_client_id = models.CharField(max_length=200, blank=True)
    paypal_client_secret = EncryptedTextField(blank=True)
    sepa_debtor_name = models.CharField(max_length=70, blank=True)
    sepa_debtor_iban = EncryptedTextField(blank=True)
    sepa_debtor_bic = models.CharField(max_length=11, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant"], name="payout_account_one_per_merchant")
        ]

    @property
    def paypal_configured(self) -> bool:
        return bool(self.paypal_client_id and self.paypal_client_secret)

    @property
    def sepa_configured(self) -> bool:
        return bool(self.sepa_debtor_name and self.sepa_debtor_iban)


class ProgramPayoutPolicy(TenantModel):
    """A program's minimum payout: an advocate's balance is paid once it reaches this amount
    (minor units of the program's currency). Without a row, any positive balance is paid."""

    program = models.OneToOneField("programs.Program", on_delete=models.CASCADE, related_name="+")
    minimum_amount = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(minimum_amount__gte=0), name="payout_minimum_not_negative"
            )
        ]


class PayoutBatch(TenantModel):
    """Payouts sent together. PayPal: one Payouts batch per run and merchant, whose public id
    is PayPal's `sender_batch_id` and our `PayPal-Request-Id` (a re-sent batch is the same
    batch). SEPA: one pain.001 file, whose public id is the message id (`MsgId`)."""

    public_id = models.CharField(
        max_length=32, unique=True, default=functools.partial(new_public_id, "pob"), editable=False
    )
    method = models.CharField(
        max_length=32, choices=PayoutMethod.choices, default=PayoutMethod.PAYPAL
    )
    # SEPA: the requested execution date written in the file (the same on every download).
    execution_date = models.DateField(null=True, blank=True)
    provider_batch_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)


class Payout(TenantModel):
    public_id = models.CharField(
        max_length=32, unique=True, default=functools.partial(new_public_id, "po"), editable=False
    )
    advocate = models.ForeignKey("tracking.Advocate", on_delete=models.PROTECT, related_name="+")
    program = models.ForeignKey("programs.Program", on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    method = models.CharField(max_length=32, choices=PayoutMethod.choices)
    status = models.CharField(max_length=16, choices=PayoutStatus.choices, default=PayoutStatus.DUE)
    failure_reason = models.CharField(max_length=500, blank=True)
    # The provider's id of what paid it: Stripe transfer, PayPal payout item, SEPA message id.
    external_id = models.CharField(max_length=64, blank=True)
    batch = models.ForeignKey(
        PayoutBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="payouts"
    )
    # Every change of status, appended: {"at", "status", "detail"}.
    history = models.JSONField(default=list, blank=True)
    # The lease of an attempt to pay (a worker killed mid-way lets it run out; the next run
    # repeats the call with the same idempotency key).
    attempts = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    paid_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payout_positive"),
        ]
        indexes = [
            models.Index(fields=["merchant", "status"], name="payout_merchant_status"),
            models.Index(fields=["merchant", "advocate"], name="payout_advocate"),
            models.Index(fields=["merchant", "-created_at"], name="payout_merchant_time"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.status})"


class PayoutItemKind(models.TextChoices):
    EARNING = "earning", "Earning"
    DEDUCTION = "deduction", "Deduction"


class PayoutItem(TenantModel):
    payout = models.ForeignKey(Payout, on_delete=models.CASCADE, related_name="items")
    reward = models.ForeignKey("rewards.Reward", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=PayoutItemKind.choices)
    # Signed: an earning is the reward's amount, a deduction minus it.
    amount = models.BigIntegerField()
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            # Earned into one live payout at most. (Deductions may be several: one per partial
            # refund after payment, never more in total than was paid; services._owed_back.)
            models.UniqueConstraint(
                fields=["merchant", "reward"],
                condition=models.Q(active=True, kind="earning"),
                name="payout_item_earned_once",
            ),
            models.CheckConstraint(
                condition=(models.Q(kind="earning") & models.Q(amount__gt=0))
                | (models.Q(kind="deduction") & models.Q(amount__lt=0)),
                name="payout_item_sign",
            ),
        ]
        indexes = [models.Index(fields=["merchant", "reward"], name="payout_item_reward")]
