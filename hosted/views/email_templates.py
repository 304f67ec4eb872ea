"""The merchant's email templates: per program, kind and locale, their own subject and body in
place of ours (hosted.email_overrides), with a preview. Viewers read, admins and owners edit."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.decorators import merchant_view
from accounts.models import Role
from accounts.services import audit_record
from hosted import email_overrides
from hosted.emails import KINDS, find_override, render_email
from hosted.models import EmailTemplateOverride
from programs.models import Program

# The email's own inline styles and remote images; scripts stay forbidden.
PREVIEW_CSP = {"style-src": ["'unsafe-inline'"], "img-src": ["https:"]}

KIND_LABELS = {
    "welcome": "Welcome (after joining)",
    "portal_link": "Link to the rewards page",
    "reward_earned": "Reward earned",
    "tier_reached": "New reward level",
    "friend_invitation": "Friend invitation",
}


def _selected(program: Program, data: Any) -> tuple[str, str] | None:
    kind, locale = data.get("kind", ""), data.get("locale", "")
    if kind in KINDS and locale in program.locales:
        return kind, locale
    return None


def _page_url(request: HttpRequest, program: Program, kind: str, locale: str) -> str:
    path = reverse(
        "program_email_templates",
        kwargs={"merchant_slug": request.merchant.slug, "program_id": program.public_id},  # type: ignore[attr-defined]
    )
    return f"{path}?kind={kind}&locale={locale}"


@require_http_methods(["GET", "POST"])
@merchant_view(least_role=Role.VIEWER)
def program_email_templates(request: HttpRequest, program_id: str) -> HttpResponse:
    program = get_object_or_404(Program, public_id=program_id)
    can_edit = request.membership.has_role(Role.ADMIN)  # type: ignore[attr-defined]
    if request.method == "POST" and not can_edit:
        raise PermissionDenied("Editing email templates needs the admin role or higher.")
    selected = _selected(program, request.POST if request.method == "POST" else request.GET)
    if request.method == "POST" and selected is None:
        return HttpResponse("Unknown email or language.", status=400)
    overrides = {
        (o.kind, o.locale): o for o in EmailTemplateOverride.objects.filter(program=program)
    }
    errors: dict[str, str] = {}
    preview = None
    status = 200
    form = {"subject": "", "body": ""}
    if selected is not None:
        kind, locale = selected
        current = overrides.get(selected)
        if current is not None:
            form = {"subject": current.subject, "body": current.body}
        if request.method == "POST":
            action = request.POST.get("action", "")
            form = {
                "subject": request.POST.get("subject", ""),
                "body": request.POST.get("body", "").replace("\r\n", "\n"),
            }
            if action == "reset":
                if current is not None:
                    with transaction.atomic():
                        current.delete()
                        audit_record(
                            action="email_template.reset",
                            actor=request.user,  # type: ignore[arg-type]
                            target=program,
                            data={"kind": kind, "locale": locale},
                            request=request,
                        )
                messages.success(request, "Our default email is used again.")
                return redirect(_page_url(request, program, kind, locale))
            errors = email_overrides.validate(kind, form["subject"], form["body"])
            if errors:
                status = 400
            elif action == "preview":
                unsaved = EmailTemplateOverride(program=program, locale=locale, kind=kind, **form)
                preview = _preview(request, program, kind, locale, unsaved)
            elif action == "save":
                with transaction.atomic():
                    EmailTemplateOverride.objects.update_or_create(
                        program=program, locale=locale, kind=kind, defaults=form
                    )
                    audit_record(
                        action="email_template.updated",
                        actor=request.user,  # type: ignore[arg-type]
                        target=program,
                        data={"kind": kind, "locale": locale},
                        request=request,
                    )
                messages.success(request, "Email template saved.")
                return redirect(_page_url(request, program, kind, locale))
            else:
                return HttpResponse("Unknown action.", status=400)
        if preview is None and request.method == "GET":
            preview = _preview(request, program, kind, locale, None)
    rows = [
        {
            "kind": kind,
            "label": KIND_LABELS[kind],
            "cells": [
                {
                    "locale": locale,
                    "overridden": (kind, locale) in overrides,
                    "url": _page_url(request, program, kind, locale),
                }
                for locale in program.locales
            ],
        }
        for kind in KINDS
    ]
    context = {
        "program": program,
        "locales": program.locales,
        "rows": rows,
        "can_edit": can_edit,
        "selected": selected,
        "selected_label": KIND_LABELS[selected[0]] if selected else "",
        "overridden": selected in overrides if selected else False,
        "form": form,
        "errors": errors,
        "placeholders": email_overrides.placeholder_help(selected[0]) if selected else [],
        "preview": preview,
        "html_preview_url": (
            reverse(
                "program_email_preview",
                kwargs={"merchant_slug": request.merchant.slug, "program_id": program.public_id},  # type: ignore[attr-defined]
            )
            + f"?kind={selected[0]}&locale={selected[1]}"
            if selected
            else ""
        ),
    }
    return render(request, "hosted/dashboard_emails.html", context, status=status)


def _preview(
    request: HttpRequest,
    program: Program,
    kind: str,
    locale: str,
    override: EmailTemplateOverride | None,
) -> dict[str, str]:
    context = email_overrides.sample_context(kind, locale, request.merchant, program)  # type: ignore[attr-defined]
    if override is None:
        override = find_override(program, locale, kind)
    rendered = render_email(kind, locale, context, override=override, use_overrides=False)
    return {"subject": rendered.subject, "text": rendered.text}


@require_GET
@merchant_view(least_role=Role.VIEWER)
def program_email_preview(request: HttpRequest, program_id: str) -> HttpResponse:
    """The HTML version of the email (saved override or our default) with sample data: the
    email's own inline styles need 'unsafe-inline' here, and nothing else does."""
    program = get_object_or_404(Program, public_id=program_id)
    kind, locale = _selected(program, request.GET) or (KINDS[0], program.default_locale)
    context = email_overrides.sample_context(kind, locale, request.merchant, program)  # type: ignore[attr-defined]
    rendered = render_email(kind, locale, context)
    response = HttpResponse(rendered.html, content_type="text/html; charset=utf-8")
    response["X-Robots-Tag"] = "noindex"
    # As csp.decorators.csp_update does (its typing does not fit merchant_view's views).
    response._csp_update = PREVIEW_CSP  # type: ignore[attr-defined]
    return response
