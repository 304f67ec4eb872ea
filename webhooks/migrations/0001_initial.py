"""The four outbound-webhook models, moved here from `rewards` (issue 13) with their tables."""

import django.db.models.deletion
import django.utils.timezone
import functools
import referral_saas.ids
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("rewards", "0004_analytics_indexes"),
        ("accounts", "0007_audit_append_only_sqlite"),
    ]

    # State only: the tables (rewards_webhook*) stay where they are and keep their data.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="WebhookEndpoint",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "public_id",
                            models.CharField(
                                default=functools.partial(
                                    referral_saas.ids.new_public_id, *("we",), **{}
                                ),
                                editable=False,
                                max_length=32,
                                unique=True,
                            ),
                        ),
                        ("url", models.CharField(max_length=2000)),
                        ("description", models.CharField(blank=True, max_length=200)),
                        ("events", models.JSONField(blank=True, default=list)),
                        ("secret", models.CharField(max_length=64)),
                        ("previous_secret", models.CharField(blank=True, max_length=64)),
                        ("previous_secret_expires_at", models.DateTimeField(blank=True, null=True)),
                        ("enabled", models.BooleanField(default=True)),
                        ("disabled_reason", models.CharField(blank=True, max_length=200)),
                        ("disabled_at", models.DateTimeField(blank=True, null=True)),
                        ("failing_since", models.DateTimeField(blank=True, null=True)),
                        (
                            "created_at",
                            models.DateTimeField(default=django.utils.timezone.now, editable=False),
                        ),
                        (
                            "merchant",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="accounts.merchant",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "rewards_webhookendpoint",
                    },
                ),
                migrations.CreateModel(
                    name="WebhookMessage",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "public_id",
                            models.CharField(
                                default=functools.partial(
                                    referral_saas.ids.new_public_id, *("msg",), **{}
                                ),
                                editable=False,
                                max_length=32,
                                unique=True,
                            ),
                        ),
                        ("event_type", models.CharField(max_length=64)),
                        ("payload", models.JSONField()),
                        (
                            "created_at",
                            models.DateTimeField(default=django.utils.timezone.now, editable=False),
                        ),
                        (
                            "merchant",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="accounts.merchant",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "rewards_webhookmessage",
                    },
                ),
                migrations.CreateModel(
                    name="WebhookDelivery",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "public_id",
                            models.CharField(
                                default=functools.partial(
                                    referral_saas.ids.new_public_id, *("dlv",), **{}
                                ),
                                editable=False,
                                max_length=32,
                                unique=True,
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("pending", "Pending"),
                                    ("succeeded", "Succeeded"),
                                    ("failed", "Failed"),
                                ],
                                default="pending",
                                max_length=16,
                            ),
                        ),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        (
                            "next_attempt_at",
                            models.DateTimeField(default=django.utils.timezone.now),
                        ),
                        ("last_attempt_at", models.DateTimeField(blank=True, null=True)),
                        ("last_status_code", models.PositiveIntegerField(blank=True, null=True)),
                        ("last_error", models.CharField(blank=True, max_length=500)),
                        (
                            "created_at",
                            models.DateTimeField(default=django.utils.timezone.now, editable=False),
                        ),
                        (
                            "merchant",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="accounts.merchant",
                            ),
                        ),
                        (
                            "endpoint",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="webhooks.webhookendpoint",
                            ),
                        ),
                        (
                            "message",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="webhooks.webhookmessage",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "rewards_webhookdelivery",
                    },
                ),
                migrations.CreateModel(
                    name="WebhookAttempt",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("attempted_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("status_code", models.PositiveIntegerField(blank=True, null=True)),
                        ("duration_ms", models.PositiveIntegerField(default=0)),
                        ("error", models.CharField(blank=True, max_length=500)),
                        ("response_excerpt", models.CharField(blank=True, max_length=500)),
                        ("manual", models.BooleanField(default=False)),
                        (
                            "merchant",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="accounts.merchant",
                            ),
                        ),
                        (
                            "delivery",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="webhooks.webhookdelivery",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "rewards_webhookattempt",
                        "indexes": [
                            models.Index(
                                fields=["merchant", "delivery"], name="webhookattempt_delivery"
                            )
                        ],
                    },
                ),
                migrations.AddIndex(
                    model_name="webhookendpoint",
                    index=models.Index(
                        fields=["merchant", "-created_at"], name="webhookendpoint_merchant_ct"
                    ),
                ),
                migrations.AddIndex(
                    model_name="webhookmessage",
                    index=models.Index(
                        fields=["merchant", "-created_at"], name="webhookmsg_merchant_ct"
                    ),
                ),
                migrations.AddIndex(
                    model_name="webhookdelivery",
                    index=models.Index(
                        condition=models.Q(("status", "pending")),
                        fields=["next_attempt_at"],
                        name="webhookdelivery_due",
                    ),
                ),
                migrations.AddIndex(
                    model_name="webhookdelivery",
                    index=models.Index(
                        fields=["merchant", "endpoint", "-created_at"], name="webhookdelivery_log"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="webhookdelivery",
                    constraint=models.UniqueConstraint(
                        fields=("message", "endpoint"), name="webhookdelivery_one_per_endpoint"
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
