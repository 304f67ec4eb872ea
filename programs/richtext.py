"""Merchant plain text (terms, descriptions) as HTML for the hosted pages: escaped, line breaks
kept, and web addresses made links.

Only `http://` and `https://` addresses become links (never `javascript:`, `data:` or bare
domains), each with `rel="nofollow noopener"` (the page is ours, the link is the merchant's) and
opening in a new tab. Trailing punctuation stays outside the link ("see https://x.example/terms."
links `https://x.example/terms`).
"""

from __future__ import annotations

import re

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

URL = re.compile(r"\bhttps?://[^\s<>\"'`]+", re.IGNORECASE)
TRAILING = ".,;:!?)]}'\""


def linkify(text: str) -> SafeString:
    """`text` as safe HTML: escaped, http(s) URLs as links, newlines as <br>."""
    parts: list[str] = []
    position = 0
    for match in URL.finditer(text):
        url = match.group(0)
        end = match.end()
        while url and url[-1] in TRAILING and not _balanced_paren(url):
            url = url[:-1]
            end -= 1
        if len(url) <= len("https://"):
            continue
        parts.append(escape(text[position : match.start()]))
        href = escape(url)
        parts.append(f'<a href="{href}" rel="nofollow noopener" target="_blank">{href}</a>')
        position = end
    parts.append(escape(text[position:]))
    html = "".join(parts).replace("\r\n", "\n").replace("\n", "<br>\n")
    return mark_safe(html)  # noqa: S308 — every piece above is escaped


def _balanced_paren(url: str) -> bool:
    """Keep a closing parenthesis that closes one inside the URL (Wikipedia-style links)."""
    return url.endswith(")") and url.count("(") >= url.count(")")
