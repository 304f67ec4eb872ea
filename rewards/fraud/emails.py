"""Moved to `referral_saas.emails` (the friend offer and tracking need it too); these names are
re-exported from here for one release."""

from referral_saas.emails import (  # noqa: F401
    GMAIL_DOMAINS,
    NormalisedEmail,
    disposable_match,
    email_domain,
    is_disposable,
    matching_domain,
    normalise_email,
    normalise_name,
)
