"""The merchant dashboard: team, invitations, API keys, audit log, settings, switching."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.decorators import SESSION_MERCHANT_KEY
from accounts.models import ApiKey, AuditEvent, Invitation, Membership, Merchant, Role, User
from accounts.services import audit_record, invitation_create
from referral_saas import tenancy
from tests.conftest import World, login, make_key
from tests.factories import UserFactory, add_member, make_program

pytestmark = pytest.mark.django_db


def url(name: str, merchant: Merchant, **kwargs: object) -> str:
    return reverse(name, kwargs={"merchant_slug": merchant.slug, **kwargs})


def membership_of(merchant: Merchant, user: User) -> Membership | None:
    with tenancy.merchant_context(merchant):
        return Membership.objects.filter(user=user).first()


def memberships(merchant: Merchant) -> dict[str, str]:
    with tenancy.merchant_context(merchant):
        return dict(Membership.objects.values_list("user__email", "role"))


def key_count(merchant: Merchant) -> int:
    with tenancy.merchant_context(merchant):
        return ApiKey.objects.count()


def audit_actions(merchant: Merchant) -> list[str]:
    with tenancy.merchant_context(merchant):
        return list(
            AuditEvent.objects.order_by("created_at", "pk").values_list("action", flat=True)
        )


def messages_of(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(message) for message in response.context["messages"]]


# --- Entry points ----------------------------------------------------------------------------


def test_home_sends_anonymous_visitors_to_login(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("account_login")


def test_home_sends_members_to_their_merchant(alice_client: Client, world: World) -> None:
    response = alice_client.get("/", follow=True)
    assert response.redirect_chain == [
        (reverse("dashboard_home"), 302),
        (url("merchant_overview", world.acme), 302),
    ]
    assert response.status_code == 200


def test_dashboard_home_without_merchant_asks_to_create_one(client: Client) -> None:
    loner = UserFactory(email="loner@example.com")
    response = login(client, loner).get(reverse("dashboard_home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("merchant_create")


def test_overview_shows_counts_and_checklist(alice_client: Client, world: World) -> None:
    make_program(world.acme)
    response = alice_client.get(url("merchant_overview", world.acme))
    assert response.status_code == 200
    assert response.context["counts"] == {"programs": 1, "advocates": 0, "clicks": 0}
    body = response.content.decode()
    assert '<dd data-stat="programs">1</dd>' in body
    assert "Getting started" in body
    assert "Invite your team" in body


def test_outsider_gets_404_for_another_merchant(client: Client, world: World) -> None:
    response = login(client, world.charlie).get(url("merchant_overview", world.acme))
    assert response.status_code == 404


def test_logged_in_user_creates_another_merchant(alice_client: Client, world: World) -> None:
    response = alice_client.post(reverse("merchant_create"), {"name": "Acme Outlet"})
    merchant = Merchant.objects.get(name="Acme Outlet")
    assert response.status_code == 302
    assert response["Location"] == url("merchant_overview", merchant)
    assert memberships(merchant) == {"alice@example.com": Role.OWNER}
    assert audit_actions(merchant) == ["merchant.created"]


def test_blank_merchant_name_is_refused(alice_client: Client, world: World) -> None:
    before = Merchant.objects.count()
    response = alice_client.post(reverse("merchant_create"), {"name": "   "})
    assert response.status_code == 200
    assert Merchant.objects.count() == before


# --- Switching -------------------------------------------------------------------------------


def test_user_in_two_merchants_can_switch(alice_client: Client, world: World) -> None:
    add_member(world.globex, world.alice, Role.ADMIN)
    page = alice_client.get(url("merchant_overview", world.acme))
    switcher = page.content.decode()
    assert url("merchant_overview", world.globex) in switcher
    assert alice_client.session[SESSION_MERCHANT_KEY] == "acme"

    response = alice_client.get(url("merchant_overview", world.globex))

    assert response.status_code == 200
    assert response.context["current_merchant"] == world.globex
    assert alice_client.session[SESSION_MERCHANT_KEY] == "globex"
    again = alice_client.get(reverse("dashboard_home"))
    assert again["Location"] == url("merchant_overview", world.globex)


def test_dashboard_home_forgets_a_merchant_the_user_left(
    alice_client: Client, world: World
) -> None:
    add_member(world.globex, world.alice, Role.VIEWER)
    alice_client.get(url("merchant_overview", world.globex))
    with tenancy.merchant_context(world.globex):
        Membership.objects.filter(user=world.alice).delete()
    response = alice_client.get(reverse("dashboard_home"))
    assert response["Location"] == url("merchant_overview", world.acme)


# --- Team and invitations --------------------------------------------------------------------


def test_invite_then_accept_creates_membership_with_that_role(
    alice_client: Client, world: World, django_capture_on_commit_callbacks
) -> None:
    # given Alice invites Dana as a reviewer (the email goes out after commit)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            url("team_invite", world.acme), {"email": "Dana@Example.com", "role": "reviewer"}
        )
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["dana@example.com"]
    accept_path = re.search(r"https?://[^/]+(/invitations/[^/\s]+/)", mail.outbox[0].body)
    assert accept_path is not None

    # when Dana opens the link, signs in and accepts
    dana = UserFactory(email="dana@example.com")
    dana_client = Client()
    anonymous = dana_client.get(accept_path.group(1))
    assert anonymous.status_code == 200
    assert "Acme" in anonymous.content.decode()
    assert f"{reverse('account_login')}?next=" in anonymous.content.decode()
    login(dana_client, dana)
    page = dana_client.get(accept_path.group(1))
    assert page.status_code == 200
    accepted = dana_client.post(accept_path.group(1))

    # then she is a reviewer of Acme, and the invitation is used
    assert accepted.status_code == 302
    assert accepted["Location"] == url("merchant_overview", world.acme)
    assert memberships(world.acme)["dana@example.com"] == Role.REVIEWER
    assert audit_actions(world.acme)[-2:] == ["member.invited", "member.joined"]
    with tenancy.merchant_context(world.acme):
        assert Invitation.objects.get(email="dana@example.com").accepted_by == dana


def test_invitation_for_another_email_is_refused(alice_client: Client, world: World) -> None:
    with tenancy.merchant_context(world.acme):
        membership = Membership.objects.get(user=world.alice)
        issued = invitation_create(actor=membership, email="dana@example.com", role="admin")
    path = issued.accept_url.split("://", 1)[1].split("/", 1)[1]
    response = login(Client(), world.charlie).post("/" + path, follow=True)
    assert response.status_code == 200
    assert any("This invitation is for dana@example.com" in m for m in messages_of(response))
    assert "charlie@example.com" not in memberships(world.acme)


def test_unknown_invitation_token_is_404(client: Client, world: World) -> None:
    response = client.get(reverse("invitation_accept", args=["not-a-token"]))
    assert response.status_code == 404


def test_viewer_sees_team_but_cannot_invite(
    client: Client, world: World, django_capture_on_commit_callbacks
) -> None:
    bob_client = login(client, world.bob)
    page = bob_client.get(url("team", world.acme))
    assert page.status_code == 200
    assert "alice@example.com" in page.content.decode()
    assert url("team_invite", world.acme) not in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = bob_client.post(
            url("team_invite", world.acme), {"email": "eve@example.com", "role": "viewer"}
        )

    assert response.status_code == 403
    with tenancy.merchant_context(world.acme):
        assert Invitation.objects.count() == 0
    assert mail.outbox == []


def test_viewer_cannot_change_roles_or_remove_members(client: Client, world: World) -> None:
    alice_membership = membership_of(world.acme, world.alice)
    assert alice_membership is not None
    bob_client = login(client, world.bob)
    before = memberships(world.acme)

    change = bob_client.post(
        url("member_change_role", world.acme, member_id=alice_membership.pk), {"role": "viewer"}
    )
    remove = bob_client.post(url("member_remove", world.acme, member_id=alice_membership.pk))

    assert change.status_code == 403
    assert remove.status_code == 403
    assert memberships(world.acme) == before


def test_admin_cannot_make_someone_owner(client: Client, world: World) -> None:
    admin = UserFactory(email="adam@example.com")
    add_member(world.acme, admin, Role.ADMIN)
    bob_membership = membership_of(world.acme, world.bob)
    assert bob_membership is not None
    admin_client = login(client, admin)
    before = memberships(world.acme)

    promote = admin_client.post(
        url("member_change_role", world.acme, member_id=bob_membership.pk),
        {"role": "owner"},
        follow=True,
    )
    invite = admin_client.post(
        url("team_invite", world.acme), {"email": "eve@example.com", "role": "owner"}, follow=True
    )

    assert promote.status_code == 200
    assert "Only an owner can make someone an owner." in messages_of(promote)
    assert invite.status_code == 200
    assert "Only an owner can make someone an owner." in messages_of(invite)
    assert memberships(world.acme) == before
    with tenancy.merchant_context(world.acme):
        assert Invitation.objects.count() == 0


def test_owner_changes_a_role(alice_client: Client, world: World) -> None:
    bob_membership = membership_of(world.acme, world.bob)
    assert bob_membership is not None
    response = alice_client.post(
        url("member_change_role", world.acme, member_id=bob_membership.pk),
        {"role": "admin"},
        follow=True,
    )
    assert "bob@example.com is now admin." in messages_of(response)
    assert memberships(world.acme)["bob@example.com"] == Role.ADMIN


def test_last_owner_cannot_be_demoted_or_removed(alice_client: Client, world: World) -> None:
    alice_membership = membership_of(world.acme, world.alice)
    assert alice_membership is not None
    before = memberships(world.acme)

    demote = alice_client.post(
        url("member_change_role", world.acme, member_id=alice_membership.pk),
        {"role": "admin"},
        follow=True,
    )
    remove = alice_client.post(
        url("member_remove", world.acme, member_id=alice_membership.pk), follow=True
    )

    assert demote.status_code == 200
    assert "A merchant needs at least one owner." in messages_of(demote)
    assert remove.status_code == 200
    assert "A merchant needs at least one owner." in messages_of(remove)
    assert memberships(world.acme) == before


def test_member_removal_takes_effect_on_the_next_request(
    alice_client: Client, world: World
) -> None:
    bob_client = login(Client(), world.bob)
    assert bob_client.get(url("merchant_overview", world.acme)).status_code == 200
    bob_membership = membership_of(world.acme, world.bob)
    assert bob_membership is not None

    response = alice_client.post(url("member_remove", world.acme, member_id=bob_membership.pk))

    assert response.status_code == 302
    assert "bob@example.com" not in memberships(world.acme)
    assert bob_client.get(url("merchant_overview", world.acme)).status_code == 404
    assert bob_client.get(url("team", world.acme)).status_code == 404


def test_members_of_another_merchant_are_404(alice_client: Client, world: World) -> None:
    charlie_membership = membership_of(world.globex, world.charlie)
    assert charlie_membership is not None
    response = alice_client.post(url("member_remove", world.acme, member_id=charlie_membership.pk))
    assert response.status_code == 404
    assert memberships(world.globex) == {"charlie@example.com": Role.OWNER}


def test_owner_revokes_a_pending_invitation(alice_client: Client, world: World) -> None:
    alice_client.post(
        url("team_invite", world.acme), {"email": "eve@example.com", "role": "viewer"}
    )
    with tenancy.merchant_context(world.acme):
        invitation = Invitation.objects.get()
    response = alice_client.post(
        url("invitation_revoke", world.acme, invitation_id=invitation.public_id), follow=True
    )
    assert "The invitation to eve@example.com was revoked." in messages_of(response)
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert list(response.context["invitations"]) == []


# --- API keys --------------------------------------------------------------------------------


def test_api_key_plaintext_is_shown_once(alice_client: Client, world: World) -> None:
    response = alice_client.post(
        url("api_key_create", world.acme), {"kind": "secret", "name": "Shop server"}
    )

    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    plaintext = response.context["issued"].plaintext
    assert plaintext.startswith("sk_live_")
    assert plaintext in response.content.decode()
    with tenancy.merchant_context(world.acme):
        key = ApiKey.objects.get()
    assert key.name == "Shop server"
    assert key.created_by == world.alice

    later = alice_client.get(url("api_keys", world.acme))
    assert later.status_code == 200
    assert plaintext not in later.content.decode()
    assert key.masked in later.content.decode()


def test_publishable_key_needs_origins(alice_client: Client, world: World) -> None:
    refused = alice_client.post(
        url("api_key_create", world.acme), {"kind": "publishable", "name": "Web"}
    )
    assert refused.status_code == 400
    assert "A publishable key needs at least one allowed origin." in refused.content.decode()
    assert key_count(world.acme) == 0

    created = alice_client.post(
        url("api_key_create", world.acme),
        {"kind": "publishable", "name": "Web", "allowed_origins": "https://shop.example.com/\n"},
    )
    assert created.status_code == 201
    with tenancy.merchant_context(world.acme):
        assert ApiKey.objects.get().allowed_origins == ["https://shop.example.com"]


def test_viewer_cannot_see_or_create_keys(client: Client, world: World) -> None:
    bob_client = login(client, world.bob)
    listing = bob_client.get(url("api_keys", world.acme))
    created = bob_client.post(url("api_key_create", world.acme), {"kind": "secret", "name": "x"})
    assert listing.status_code == 403
    assert created.status_code == 403
    assert key_count(world.acme) == 0


def test_viewer_cannot_revoke_or_roll_keys(client: Client, world: World) -> None:
    issued = make_key(world.acme)
    bob_client = login(client, world.bob)
    revoke = bob_client.post(url("api_key_revoke", world.acme, key_id=issued.key.public_id))
    roll = bob_client.post(
        url("api_key_roll", world.acme, key_id=issued.key.public_id), {"grace_hours": "0"}
    )
    assert revoke.status_code == 403
    assert roll.status_code == 403
    issued.key.refresh_from_db()
    assert issued.key.revoked_at is None
    assert key_count(world.acme) == 1


def test_revoke_from_dashboard(alice_client: Client, world: World) -> None:
    issued = make_key(world.acme)
    response = alice_client.post(
        url("api_key_revoke", world.acme, key_id=issued.key.public_id), follow=True
    )
    issued.key.refresh_from_db()
    assert issued.key.revoked_at is not None
    assert any("was revoked" in m for m in messages_of(response))
    assert audit_actions(world.acme)[-1] == "api_key.revoked"


def test_roll_from_dashboard_keeps_old_key_for_the_grace_period(
    alice_client: Client, world: World
) -> None:
    issued = make_key(world.acme)
    response = alice_client.post(
        url("api_key_roll", world.acme, key_id=issued.key.public_id), {"grace_hours": "24"}
    )
    assert response.status_code == 201
    replacement = response.context["issued"]
    assert replacement.plaintext in response.content.decode()
    issued.key.refresh_from_db()
    assert issued.key.replaced_by == replacement.key
    assert issued.key.revoked_at is None
    assert issued.key.expires_at is not None
    assert key_count(world.acme) == 2


def test_rolling_twice_is_refused_with_a_message(alice_client: Client, world: World) -> None:
    issued = make_key(world.acme)
    alice_client.post(
        url("api_key_roll", world.acme, key_id=issued.key.public_id), {"grace_hours": "0"}
    )
    response = alice_client.post(
        url("api_key_roll", world.acme, key_id=issued.key.public_id),
        {"grace_hours": "0"},
        follow=True,
    )
    assert response.status_code == 200
    assert "Only an active key that has not been rolled can be rolled." in messages_of(response)
    assert key_count(world.acme) == 2


def test_another_merchants_key_is_404(alice_client: Client, world: World) -> None:
    issued = make_key(world.globex)
    response = alice_client.post(url("api_key_revoke", world.acme, key_id=issued.key.public_id))
    assert response.status_code == 404
    issued.key.refresh_from_db()
    assert issued.key.revoked_at is None


def test_mutations_are_post_only(alice_client: Client, world: World) -> None:
    issued = make_key(world.acme)
    response = alice_client.get(url("api_key_revoke", world.acme, key_id=issued.key.public_id))
    assert response.status_code == 405
    issued.key.refresh_from_db()
    assert issued.key.revoked_at is None


# --- Audit log and settings ------------------------------------------------------------------


def test_audit_page_lists_newest_first_for_owner(alice_client: Client, world: World) -> None:
    with tenancy.merchant_context(world.acme):
        audit_record(action="first.thing", actor=world.alice)
        audit_record(action="second.thing", actor=world.alice)
    response = alice_client.get(url("audit_log", world.acme))
    assert response.status_code == 200
    assert [e.action for e in response.context["page"].object_list] == [
        "second.thing",
        "first.thing",
    ]


def test_audit_page_is_paginated_and_htmx_gets_the_table(
    alice_client: Client, world: World
) -> None:
    with tenancy.merchant_context(world.acme):
        for number in range(55):
            audit_record(action=f"thing.{number}", actor=world.alice)
    second = alice_client.get(url("audit_log", world.acme) + "?page=2", HTTP_HX_REQUEST="true")
    assert second.status_code == 200
    assert [e.action for e in second.context["page"].object_list] == [
        f"thing.{n}" for n in range(4, -1, -1)
    ]
    assert "<html" not in second.content.decode()


def test_audit_page_is_403_for_viewer(client: Client, world: World) -> None:
    response = login(client, world.bob).get(url("audit_log", world.acme))
    assert response.status_code == 403


def test_settings_are_owner_only(client: Client, world: World) -> None:
    admin = UserFactory(email="adam@example.com")
    add_member(world.acme, admin, Role.ADMIN)
    admin_client = login(client, admin)
    page = admin_client.get(url("merchant_settings", world.acme))
    update = admin_client.post(
        url("merchant_security_update", world.acme), {"require_owner_mfa": "on"}
    )
    assert page.status_code == 403
    assert update.status_code == 403
    world.acme.refresh_from_db()
    assert world.acme.require_owner_mfa is False


def test_require_owner_mfa_sends_owner_without_totp_to_setup(
    alice_client: Client, world: World
) -> None:
    # given Alice turns the requirement on
    response = alice_client.post(
        url("merchant_security_update", world.acme), {"require_owner_mfa": "on"}
    )
    assert response.status_code == 302
    world.acme.refresh_from_db()
    assert world.acme.require_owner_mfa is True
    assert audit_actions(world.acme)[-1] == "merchant.owner_mfa_required"

    # when she (no authenticator) opens the dashboard, then she is sent to set one up
    blocked = alice_client.get(url("merchant_overview", world.acme))
    assert blocked.status_code == 302
    assert blocked["Location"] == reverse("mfa_activate_totp")

    # and a viewer is not affected
    assert login(Client(), world.bob).get(url("merchant_overview", world.acme)).status_code == 200


def test_owner_with_totp_passes_the_mfa_requirement(alice_client: Client, world: World) -> None:
    Merchant.objects.filter(pk=world.acme.pk).update(require_owner_mfa=True)
    Authenticator.objects.create(
        user=world.alice, type=Authenticator.Type.TOTP, data={"secret": "x"}
    )
    response = alice_client.get(url("merchant_overview", world.acme))
    assert response.status_code == 200


def test_security_page_is_linked_from_the_user_menu(alice_client: Client, world: World) -> None:
    page = alice_client.get(url("merchant_overview", world.acme)).content.decode()
    assert f'href="{reverse("mfa_index")}"' in page
    assert alice_client.get(reverse("mfa_index")).status_code == 200


# --- Invited before having an account ----------------------------------------------------------


def _invite(world: World, email: str, role: str = "reviewer") -> Invitation:
    with tenancy.merchant_context(world.acme):
        owner = Membership.objects.get(user=world.alice)
        return services.invitation_create(actor=owner, email=email, role=role).invitation


def test_invitee_signs_up_without_a_business_and_joins_from_the_dashboard(
    client: Client, world: World
) -> None:
    # given Dana is invited to Acme before she has an account
    invitation = _invite(world, "dana@example.com")

    # when she signs up with no business name
    response = client.post(
        reverse("account_signup"),
        {
            "email": "dana@example.com",
            "password1": "a-long-pass-phrase-1",
            "password2": "a-long-pass-phrase-1",
            "business_name": "",
        },
    )
    assert response.status_code == 302
    dana = User.objects.get(email="dana@example.com")
    assert Membership.unscoped_all_merchants.filter(user=dana).count() == 0  # no merchant of hers
    assert Merchant.objects.count() == 2

    # then, signed in, the dashboard offers the invitation and accepting it joins Acme
    EmailAddress.objects.filter(user=dana).update(verified=True)
    login(client, dana)
    page = client.get(reverse("merchant_create"))
    assert "Join Acme" in page.content.decode()
    joined = client.post(reverse("invitation_accept_pending", args=[invitation.public_id]))
    assert joined.status_code == 302
    membership = Membership.unscoped_all_merchants.get(user=dana)
    assert (membership.merchant_id, membership.role) == (world.acme.pk, "reviewer")


def test_sign_up_without_business_name_and_without_invitation_is_refused(
    client: Client, world: World
) -> None:
    response = client.post(
        reverse("account_signup"),
        {
            "email": "erin@example.com",
            "password1": "a-long-pass-phrase-1",
            "password2": "a-long-pass-phrase-1",
            "business_name": "  ",
        },
    )
    assert response.status_code == 200
    assert "Give your business a name." in response.content.decode()
    assert not User.objects.filter(email="erin@example.com").exists()


def test_nobody_else_can_accept_a_pending_invitation(client: Client, world: World) -> None:
    invitation = _invite(world, "dana@example.com")
    login(client, world.charlie)
    response = client.post(reverse("invitation_accept_pending", args=[invitation.public_id]))
    assert response.status_code == 404
    with tenancy.merchant_context(world.acme):
        assert not Membership.objects.filter(user=world.charlie).exists()
        assert Invitation.objects.get(pk=invitation.pk).accepted_at is None
