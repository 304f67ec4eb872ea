"""Tenant scoping that fails closed.

Every merchant-owned model inherits `TenantModel`. Its default manager (`objects`) filters by the
*current merchant* and raises `NoCurrentMerchant` when there is none, so a forgotten scope is an
error, never everyone's rows. The current merchant is set in exactly three places:

- the API base view, from the API key (`accounts.api.base.MerchantAPIView`);
- the dashboard decorator, from the URL and the user's membership (`accounts.decorators`);
- the task decorator, from a required `merchant_id` (`referral_saas.workers.merchant_task`).

Public entry points that name their merchant in the URL use `merchant_context()` directly once
they have proved the right to act: the hosted pages (public by design) and the inbound Stripe
hook (`tracking.hooks`, after verifying the signature with that merchant's secret).
`merchant_context()` is the primitive all of these use (and tests, seeds and management commands).
The escape hatch, `unscoped_all_merchants`, is named so nobody uses it by accident.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from django.apps import apps
from django.db import models

if TYPE_CHECKING:
    from accounts.models import Merchant


class NoCurrentMerchant(RuntimeError):
    """A tenant-scoped query ran with no merchant set: refusing rather than leaking."""


class CrossTenantWrite(RuntimeError):
    """A write named a merchant other than the current one."""


_current_merchant: ContextVar[Merchant | None] = ContextVar("current_merchant", default=None)


def get_current_merchant() -> Merchant:
    merchant = _current_merchant.get()
    if merchant is None:
        raise NoCurrentMerchant(
            "No current merchant: tenant-owned rows are only reachable inside merchant_context() "
            "(API key, dashboard membership or merchant_task)."
        )
    return merchant


def current_merchant_or_none() -> Merchant | None:
    return _current_merchant.get()


def activate(merchant: Merchant) -> Token[Merchant | None]:
    return _current_merchant.set(merchant)


def deactivate(token: Token[Merchant | None]) -> None:
    _current_merchant.reset(token)


TENANT_MODEL = "accounts.Merchant"


def tenant_model() -> type[Merchant]:
    """The tenant model, looked up through the app registry: this module sits below `accounts`
    and names the model instead of importing it."""
    return apps.get_model(TENANT_MODEL)


def clear() -> None:
    """Forget any merchant left on this thread (a safety net run at the start of each request)."""
    _current_merchant.set(None)


@contextmanager
def merchant_context(merchant: Merchant) -> Iterator[Merchant]:
    token = activate(merchant)
    try:
        yield merchant
    finally:
        deactivate(token)


_M = TypeVar("_M", bound="TenantModel")


class TenantQuerySet(models.QuerySet[_M], Generic[_M]):
    def create(self, **kwargs: Any) -> _M:
        merchant = get_current_merchant()
        given = kwargs.get("merchant")
        given_id = kwargs.get("merchant_id", given.pk if given is not None else merchant.pk)
        if given_id != merchant.pk:
            raise CrossTenantWrite(
                f"create() for merchant {given_id} inside merchant {merchant.pk}"
            )
        kwargs.pop("merchant_id", None)
        kwargs["merchant"] = merchant
        return super().create(**kwargs)

    def bulk_create(self, objs: Iterable[_M], *args: Any, **kwargs: Any) -> list[_M]:
        merchant = get_current_merchant()
        objs = list(objs)
        for obj in objs:
            if obj.merchant_id is None:
                obj.merchant = merchant
            elif obj.merchant_id != merchant.pk:
                raise CrossTenantWrite(f"bulk_create() row for merchant {obj.merchant_id}")
        return super().bulk_create(objs, *args, **kwargs)


class TenantManager(models.Manager[_M], Generic[_M]):
    """Default manager of tenant-owned models: only the current merchant's rows, or an error."""

    _queryset_class = TenantQuerySet

    def get_queryset(self) -> TenantQuerySet[_M]:
        merchant = get_current_merchant()
        return TenantQuerySet(self.model, using=self._db).filter(merchant_id=merchant.pk)

    # Writes of new rows need no `merchant_id = …` filter (TenantQuerySet checks the merchant
    # itself); building one cost ~100 function calls on every create, the hot paths' INSERTs
    # included (issue 19).
    def create(self, **kwargs: Any) -> _M:
        return TenantQuerySet[_M](self.model, using=self._db).create(**kwargs)

    def bulk_create(self, objs: Iterable[_M], *args: Any, **kwargs: Any) -> list[_M]:
        return TenantQuerySet[_M](self.model, using=self._db).bulk_create(objs, *args, **kwargs)


class TenantModel(models.Model):
    """Abstract base of every merchant-owned model."""

    merchant = models.ForeignKey(TENANT_MODEL, on_delete=models.CASCADE, related_name="+")

    objects: TenantManager[Any] = TenantManager()
    # Crosses tenants. Only for code that has no tenant yet by nature (key lookup, a user's own
    # memberships, operator admin, sweepers that fan out per merchant). Grep for it in review.
    unscoped_all_merchants: models.Manager[Any] = models.Manager()

    class Meta:
        abstract = True
