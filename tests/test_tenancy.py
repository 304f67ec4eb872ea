"""Tenant scoping fails closed, and every merchant-owned model is scoped."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import models

from accounts.models import Merchant
from programs.models import Program
from referral_saas import tenancy
from referral_saas.tenancy import CrossTenantWrite, NoCurrentMerchant, TenantManager, TenantModel
from tests.conftest import World
from tests.factories import make_program


def _points_at_merchant(model: type[models.Model]) -> bool:
    return any(
        isinstance(field, models.ForeignKey | models.OneToOneField)
        and field.related_model is Merchant
        for field in model._meta.get_fields()
        if field.concrete
    )


def test_every_model_with_a_merchant_foreign_key_is_tenant_scoped() -> None:
    # given every installed model that references a merchant
    # (the merchant's own `live_merchant`, its test twin's link to its account, excepted)
    referencing = [
        m
        for m in apps.get_models()
        if _points_at_merchant(m) and m._meta.label != "accounts.Merchant"
    ]
    assert len(referencing) >= 6  # sanity: the walk found the tenant-owned models

    # then each inherits TenantModel and its default manager is the failing-closed one
    unscoped = [
        m._meta.label
        for m in referencing
        if not issubclass(m, TenantModel) or not isinstance(m._default_manager, TenantManager)
    ]
    assert unscoped == []


@pytest.mark.django_db
def test_every_scoped_model_refuses_to_query_without_a_merchant() -> None:
    for model in apps.get_models():
        if issubclass(model, TenantModel):
            with pytest.raises(NoCurrentMerchant):
                model.objects.all()


def test_scoped_query_outside_a_merchant_raises(world: World) -> None:
    make_program(world.acme)
    with pytest.raises(NoCurrentMerchant):
        list(Program.objects.all())


def test_scoped_query_sees_only_the_current_merchants_rows(world: World) -> None:
    acme_program = make_program(world.acme, slug="acme-offer")
    make_program(world.globex, slug="globex-offer")

    with tenancy.merchant_context(world.acme):
        assert list(Program.objects.values_list("pk", flat=True)) == [acme_program.pk]
        assert Program.objects.filter(slug="globex-offer").first() is None


def test_create_for_another_merchant_is_refused(world: World) -> None:
    with tenancy.merchant_context(world.acme), pytest.raises(CrossTenantWrite):
        Program.objects.create(
            merchant=world.globex,
            name="x",
            slug="x",
            type="one_sided",
            currency="EUR",
            destination_url="https://a.example/",
        )
    assert Program.unscoped_all_merchants.count() == 0


def test_bulk_create_for_another_merchant_is_refused(world: World) -> None:
    row = Program(
        merchant=world.globex,
        name="x",
        slug="x",
        type="one_sided",
        currency="EUR",
        destination_url="https://a.example/",
    )
    with tenancy.merchant_context(world.acme), pytest.raises(CrossTenantWrite):
        Program.objects.bulk_create([row])
    assert Program.unscoped_all_merchants.count() == 0


def test_create_fills_in_the_current_merchant(world: World) -> None:
    with tenancy.merchant_context(world.globex):
        program = Program.objects.create(
            name="x",
            slug="x",
            type="one_sided",
            currency="EUR",
            destination_url="https://a.example/",
        )
    assert program.merchant_id == world.globex.pk


def test_context_is_restored_after_nesting(world: World) -> None:
    with tenancy.merchant_context(world.acme):
        with tenancy.merchant_context(world.globex):
            assert tenancy.get_current_merchant() == world.globex
        assert tenancy.get_current_merchant() == world.acme
    assert tenancy.current_merchant_or_none() is None
