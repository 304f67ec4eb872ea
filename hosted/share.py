"""Share buttons: one prefilled message per locale, and the URL each network expects."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from django.utils.translation import gettext, pgettext

from programs.specs import ProgramConfig
from programs.summary import reward_phrase


def share_message(*, config: ProgramConfig, merchant_name: str, locale: str) -> str:
    """The text a friend receives (call inside translation.override(locale))."""
    if config.friend_reward is not None:
        return gettext("Get %(reward)s at %(merchant)s with my link:") % {
            "reward": reward_phrase(config.friend_reward, locale),
            "merchant": merchant_name,
        }
    return gettext("I shop at %(merchant)s and think you will like it too:") % {
        "merchant": merchant_name
    }


def share_links(*, url: str, message: str, subject: str) -> list[dict[str, str]]:
    """(network, label, href) for every share button, the URL after the message."""
    text = f"{message} {url}"
    return [
        {
            "network": "whatsapp",
            "label": "WhatsApp",
            "href": "https://wa.me/?" + urlencode({"text": text}),
        },
        {
            "network": "email",
            # Its own context: Django's and allauth's catalogues also translate "Email" (Polish
            # "Adres e-mail", a form label) and are found first; a share button says "E-mail".
            "label": pgettext("share button", "Email"),
            "href": "mailto:?subject=" + quote(subject) + "&body=" + quote(text),
        },
        {"network": "sms", "label": gettext("SMS"), "href": "sms:?&body=" + quote(text)},
        {
            "network": "telegram",
            "label": "Telegram",
            "href": "https://t.me/share/url?" + urlencode({"url": url, "text": message}),
        },
        {
            "network": "facebook",
            "label": "Facebook",
            "href": "https://www.facebook.com/sharer/sharer.php?" + urlencode({"u": url}),
        },
        {
            "network": "x",
            "label": "X",
            "href": "https://x.com/intent/post?" + urlencode({"text": message, "url": url}),
        },
        {
            "network": "linkedin",
            "label": "LinkedIn",
            "href": "https://www.linkedin.com/sharing/share-offsite/?" + urlencode({"url": url}),
        },
    ]
