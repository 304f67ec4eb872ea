"""`/healthz` (the process answers) and `/readyz` (database and broker reachable)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.warning("readyz: database unreachable", exc_info=True)
        return False


def _broker_state() -> str:
    if not settings.REDIS_URL:
        return "in-process"
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
        try:
            return "ok" if client.ping() else "unreachable"
        finally:
            client.close()
    except redis.RedisError:
        logger.warning("readyz: broker unreachable", exc_info=True)
        return "unreachable"


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    database = "ok" if _database_ok() else "unreachable"
    broker = _broker_state()
    ready = database == "ok" and broker in {"ok", "in-process"}
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "database": database, "broker": broker},
        status=200 if ready else 503,
    )


class HealthCheckMiddleware:
    """Answers `/healthz` and `/readyz` before any other middleware.

    Probes from load balancers and orchestrators address the process by IP, which
    `ALLOWED_HOSTS` would refuse, and arrive over plain HTTP, which production would redirect;
    they also need none of sessions, CSRF or auth. First in `MIDDLEWARE`.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.routes: dict[str, Callable[[HttpRequest], HttpResponse]] = {
            "/healthz": healthz,
            "/readyz": readyz,
        }

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = self.routes.get(request.path_info)
        if view is not None:
            return view(request)
        return self.get_response(request)
