"""What hosted does when something happens below it (registered in `HostedConfig.ready`):
consumers of `events`, run inside the transaction that made the change; each only enqueues
its email after commit."""

from __future__ import annotations

from events import Event
from hosted.services import advocate_welcome_after_api_enrolment
from tracking.models import Advocate


def welcome_advocate_enrolled_through_the_api(event: Event) -> None:
    """`advocate.created` through the API: the welcome email, when the program's setting is on.
    (The landing page sends its own welcome email: `hosted_join`.)"""
    if event.origin == "api" and isinstance(event.subject, Advocate):
        advocate_welcome_after_api_enrolment(advocate=event.subject)
