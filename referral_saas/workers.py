"""Background-work helpers: enqueue only after commit; tasks that run inside a merchant."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from celery import Task
from django.db import transaction

from referral_saas import tenancy
from referral_saas.celery import app

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


class MissingMerchantId(tenancy.NoCurrentMerchant):
    """A merchant task was called without `merchant_id`."""


def enqueue_on_commit(task: Task, /, **kwargs: Any) -> None:
    """Send `task` with JSON kwargs once the surrounding transaction commits (now, if none).

    The row that records the intent must already be written in that transaction, so a lost
    message is found again by a sweeper instead of being lost.
    """
    transaction.on_commit(lambda: _send(task, kwargs))


def _send(task: Task, kwargs: dict[str, Any]) -> None:
    """Publish, but never fail the caller for a broker outage: the intent is already durable
    (the row the task is about), and the pipeline's sweeper enqueues it again later. In eager
    mode the task runs here, and its own errors propagate as usual."""
    if app.conf.task_always_eager:
        task.apply_async(kwargs=kwargs)
        return
    try:
        task.apply_async(kwargs=kwargs)
    except Exception:
        logger.exception("could not enqueue %s; the sweeper will pick it up", task.name)


def merchant_task(*task_args: Any, **task_options: Any) -> Callable[[F], Task]:
    """Declare a Celery task that runs inside one merchant.

    The task must be called with a keyword `merchant_id`; without it, or with an unknown id, it
    fails closed (raises) before the body runs. The body receives the merchant id unchanged and
    runs with the merchant current, so scoped managers work and cannot reach other tenants.
    """

    def decorate(func: F) -> Task:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            merchant_id = kwargs.get("merchant_id")
            if merchant_id is None:
                raise MissingMerchantId(f"{func.__name__} needs a merchant_id keyword argument")
            merchant = tenancy.tenant_model().objects.get(pk=merchant_id)
            with tenancy.merchant_context(merchant):
                return func(*args, **kwargs)

        options = {"acks_late": True, **task_options}
        return app.task(*task_args, **options)(run)

    return decorate
