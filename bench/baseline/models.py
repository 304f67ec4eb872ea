"""Unmanaged models over the project's own tables: the baseline uses Django's ORM like the
project does (the bare stack is Django + DRF), but none of the project's code."""

from django.db import models


class MerchantRow(models.Model):
    objects: "models.Manager[MerchantRow]" = models.Manager()

    class Meta:
        managed = False
        db_table = "accounts_merchant"

    def __str__(self) -> str:
        return str(self.pk)


class ApiKeyRow(models.Model):
    merchant = models.ForeignKey(MerchantRow, on_delete=models.DO_NOTHING)
    merchant_id: int
    kind = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64)
    last_used_at = models.DateTimeField(null=True)
    expires_at = models.DateTimeField(null=True)
    revoked_at = models.DateTimeField(null=True)
    objects: "models.Manager[ApiKeyRow]" = models.Manager()

    class Meta:
        managed = False
        db_table = "accounts_apikey"

    def __str__(self) -> str:
        return str(self.pk)


class ConversionRow(models.Model):
    """The NOT NULL columns of `tracking_conversion` the project writes on a new order."""

    public_id = models.CharField(max_length=32)
    merchant = models.ForeignKey(MerchantRow, on_delete=models.DO_NOTHING)
    order_id = models.CharField(max_length=200)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    refunded_amount = models.BigIntegerField(default=0)
    customer_email = models.CharField(max_length=254)
    customer_id = models.CharField(max_length=120, default="")
    customer_name = models.CharField(max_length=120, default="")
    referral_code = models.CharField(max_length=40, default="")
    click_public_id = models.CharField(max_length=32, default="")
    metadata = models.JSONField(default=dict)
    reasons = models.JSONField(default=list)
    occurred_at = models.DateTimeField()
    status = models.CharField(max_length=16, default="received")
    created_at = models.DateTimeField()
    # Added by the pipeline (tracking migration 0005): NOT NULL, defaults set by the ORM.
    visitor_id = models.CharField(max_length=64, default="")
    ip_hash = models.CharField(max_length=64, default="")
    ip_prefix = models.CharField(max_length=64, default="")
    user_agent = models.CharField(max_length=400, default="")
    country = models.CharField(max_length=2, default="")
    payment_fingerprint = models.CharField(max_length=120, default="")
    attributed_by = models.CharField(max_length=16, default="")
    over_limit = models.BooleanField(default=False)
    dispatch_attempts = models.PositiveIntegerField(default=0)
    review_note = models.CharField(max_length=500, default="")
    objects: "models.Manager[ConversionRow]" = models.Manager()

    class Meta:
        managed = False
        db_table = "tracking_conversion"

    def __str__(self) -> str:
        return self.public_id
