"""The Celery app. JSON only, late acks, time limits; configuration lives in Django settings."""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "referral_saas.settings.local")

app = Celery("referral_saas")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _reuse_connections_in_workers(**_: object) -> None:
    # Celery's Django fixup closes a pooled connection's pool around every task (~65 tasks/s
    # measured here) but reuses plain persistent connections (~640/s), so workers never pool.
    from django.conf import settings
    from django.db import connections

    for alias in connections:
        options = settings.DATABASES[alias].get("OPTIONS", {})
        if options.pop("pool", None) is not None:
            settings.DATABASES[alias]["CONN_MAX_AGE"] = 600
            connections[alias].close()
            del connections[alias]
