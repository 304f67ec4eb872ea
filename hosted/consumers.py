"""What hosted does when something happens below it (registered in `HostedConfig.ready`):
consumers of `events`, run inside the transaction that made the change; each only enqueues
its email after commit."""

from __future__ import annotations

from events import Event
from hosted.services import advocate_welcome_after_api_enrolment
from hosted.tasks import (
    email_advocate_welcome_task,
    email_friend_offer_task,
    email_reward_earned_task,
    email_tier_reached_task,
)
from referral_saas.workers import enqueue_on_commit
from rewards.models import Reward, RewardStatus
from tracking.models import Advocate


def welcome_advocate_enrolled_through_the_api(event: Event) -> None:
    """`advocate.created` through the API: the welcome email, when the program's setting is on.
    (The landing page sends its own welcome email: `hosted_join`.)"""
    if event.origin == "api" and isinstance(event.subject, Advocate):
        advocate_welcome_after_api_enrolment(advocate=event.subject)
    elif event.origin == "buyer" and isinstance(event.subject, Advocate):
        # A buyer enrolled by the program's `enrol_buyers`: always welcomed with their link.
        advocate = event.subject
        enqueue_on_commit(
            email_advocate_welcome_task, merchant_id=advocate.merchant_id, advocate_id=advocate.pk
        )


def tier_reached(event: Event) -> None:
    """`reward.created` for a tier (above the first step), not held for review: the "you
    reached a tier" email to the advocate, after commit."""
    reward = event.subject
    if isinstance(reward, Reward) and reward.tier > 0 and reward.status != RewardStatus.HELD:
        enqueue_on_commit(
            email_tier_reached_task, merchant_id=reward.merchant_id, reward_id=reward.pk
        )


def reward_earned(event: Event) -> None:
    """`reward.issued` by its fulfilment method (the "issue" transition; a merchant confirming
    a reward they delivered themselves sends nothing): the "reward earned" email, after commit."""
    reward = event.subject
    if isinstance(reward, Reward) and event.origin == "issue":
        # A friend's offer (issued before purchase): the code they asked for, in their language.
        task = email_friend_offer_task if reward.friend_key else email_reward_earned_task
        enqueue_on_commit(task, merchant_id=reward.merchant_id, reward_id=reward.pk)
