"""Hosted pages for advocates and friends (no login): the referral link, the friend page, QR
codes, joining, the advocate portal, consent and opt-outs."""
