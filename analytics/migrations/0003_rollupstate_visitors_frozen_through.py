from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0002_participants_sketch"),
    ]

    operations = [
        migrations.AddField(
            model_name="rollupstate",
            name="visitors_frozen_through",
            field=models.DateField(blank=True, null=True),
        ),
    ]
