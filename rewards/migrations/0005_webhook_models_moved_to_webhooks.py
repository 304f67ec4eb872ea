"""The outbound-webhook models now belong to the `webhooks` app (its 0001); their tables stay."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("rewards", "0004_analytics_indexes"),
    ]

    # State only: the tables (rewards_webhook*) stay where they are and keep their data.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="webhookdelivery",
                    name="endpoint",
                ),
                migrations.RemoveField(
                    model_name="webhookdelivery",
                    name="merchant",
                ),
                migrations.RemoveField(
                    model_name="webhookdelivery",
                    name="message",
                ),
                migrations.RemoveField(
                    model_name="webhookendpoint",
                    name="merchant",
                ),
                migrations.RemoveField(
                    model_name="webhookmessage",
                    name="merchant",
                ),
                migrations.DeleteModel(
                    name="WebhookAttempt",
                ),
                migrations.DeleteModel(
                    name="WebhookDelivery",
                ),
                migrations.DeleteModel(
                    name="WebhookEndpoint",
                ),
                migrations.DeleteModel(
                    name="WebhookMessage",
                ),
            ],
            database_operations=[],
        ),
    ]
