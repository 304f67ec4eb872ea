"""The WSGI application gunicorn serves (production, `make run`, the benchmark's project side).

After loading, the URLconf (and with it every view module) is imported and the heap built so far
is frozen (`gc.freeze()`): the cyclic garbage collector then never rescans those few hundred
thousand long-lived objects. Without it, every full collection walks them all while holding the
GIL, pausing every thread of the process for tens of milliseconds — measured here as a large
part of the hot paths' p99 (issue 19). Objects created by requests are collected as before.
"""

import contextlib
import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "referral_saas.settings.local")

application = get_wsgi_application()


def _load_everything_then_freeze() -> None:
    from django.urls import Resolver404, get_resolver

    resolver = get_resolver()
    resolver.url_patterns  # noqa: B018 - imports every view module now, not on the first request
    with contextlib.suppress(Resolver404):
        resolver.resolve("/r/warm-up")  # compiles the patterns' regexes on the way
    gc.collect()
    gc.freeze()


_load_everything_then_freeze()
