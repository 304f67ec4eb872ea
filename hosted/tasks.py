"""Emails to advocates and friends, sent by workers (ids in, a service does the work).

Every task is idempotent through `hosted.emails.send_once`: the email's key (`welcome:<advocate>`,
`reward:<reward>`, `tier:<reward>`, `invite:<program>:<friend hash>`) is claimed before sending,
so a re-delivered task sends nothing twice. The reward pipeline calls the reward and tier tasks
after commit with exactly these signatures.
"""

from __future__ import annotations

from hosted import notifications
from referral_saas.workers import merchant_task

RETRY = {
    "autoretry_for": (OSError,),
    "retry_backoff": 30,
    "retry_backoff_max": 3600,
    "max_retries": 8,
}


@merchant_task(**RETRY)
def email_advocate_welcome_task(*, merchant_id: int, advocate_id: int) -> bool:
    """Welcome a new advocate: their link, code and portal link. Key `welcome:<advocate>`."""
    return notifications.advocate_welcome(advocate_id=advocate_id)


@merchant_task(**RETRY)
def email_portal_link_task(*, merchant_id: int, advocate_id: int, window: str) -> bool:
    """A fresh portal link ("send me my link again"), one per advocate and `window` (hour)."""
    return notifications.portal_link(advocate_id=advocate_id, window=window)


@merchant_task(**RETRY)
def email_reward_earned_task(*, merchant_id: int, reward_id: int) -> bool:
    """Tell the reward's recipient it was earned. Friends only when the merchant turned friend
    emails on and the friend did not opt out. Key `reward:<reward>`."""
    return notifications.reward_earned(reward_id=reward_id)


@merchant_task(**RETRY)
def email_tier_reached_task(*, merchant_id: int, reward_id: int) -> bool:
    """Tell the advocate they reached a tier (the reward's `tier` ≥ 1). Key `tier:<reward>`."""
    return notifications.tier_reached(reward_id=reward_id)


@merchant_task(**RETRY)
def email_friend_invitation_task(*, merchant_id: int, advocate_id: int, email: str) -> bool:
    """An advocate's invitation to one friend, once ever per friend and program (key
    `invite:<program>:<friend hash>`): a friend named by two advocates gets one email."""
    return notifications.friend_invitation(advocate_id=advocate_id, email=email)


@merchant_task(**RETRY)
def email_friend_offer_task(*, merchant_id: int, reward_id: int) -> bool:
    """The friend's own code, which they asked for on the friend page or through the shop (a
    requested delivery, so no marketing opt-in is needed), in their language. Key
    `offer:<reward>`."""
    return notifications.friend_offer_code(reward_id=reward_id)
