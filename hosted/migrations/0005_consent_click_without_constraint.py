"""Consent records keep their click without a database constraint: clicks are partitioned by
month on PostgreSQL (tracking.0010, which runs after this one), and a partitioned table's `id`
alone cannot be referenced. `on_delete=SET_NULL` stays: Django does it for ORM deletes,
tracking.partitions for dropped months."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hosted", "0004_held_email"),
        ("tracking", "0009_conversion_subscription_id"),
    ]

    operations = [
        migrations.AlterField(
            model_name="consentrecord",
            name="click",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="tracking.click",
            ),
        ),
    ]
