"""The picture a shared referral link shows in WhatsApp, Facebook, X, LinkedIn or Slack
(`og:image`): 1200 by 630 PNG per program and language, drawn with Pillow from the program's brand
colour, its logo (when set) or the merchant's name, and the friend's offer in that language.

Drawn once per program version and language and kept in the cache; the URL carries the
version (`?v=`) so a changed offer is a new URL and the old image may be cached for a day by
anyone. Text is wrapped to the card, and the font is a system TrueType font with the Latin
letters Italian, Romanian and Polish need (DejaVu, then Liberation), else Pillow's own.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from django.core.cache import cache
from PIL import Image, ImageDraw, ImageFont

from programs.models import Program

WIDTH, HEIGHT = 1200, 630
MARGIN = 80
CACHE_SECONDS = 24 * 3600
LOGO_MAX_BYTES = 1024 * 1024
_FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/share/fonts/truetype/liberation",
    "/usr/share/fonts/liberation",
)
_BOLD = ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf")
_REGULAR = ("DejaVuSans.ttf", "LiberationSans-Regular.ttf")

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@lru_cache(maxsize=16)
def _font(size: int, *, bold: bool) -> Font:
    for directory in _FONT_DIRS:
        for name in _BOLD if bold else _REGULAR:
            path = Path(directory) / name
            if path.exists():
                return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def _rgb(color: str) -> tuple[int, int, int]:
    return (int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16))


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> list[str]:
    """Greedy word wrap; a word longer than the line is cut (a 40-letter code, a long URL)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        while draw.textlength(word, font=font) > width:
            cut = len(word)
            while cut > 1 and draw.textlength(word[:cut], font=font) > width:
                cut -= 1
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:cut])
            word = word[cut:]
        candidate = f"{line} {word}".strip()
        if draw.textlength(candidate, font=font) <= width:
            line = candidate
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines


def _logo(program: Program) -> Image.Image | None:
    if not program.logo:
        return None
    try:
        with program.logo.open("rb") as file:
            content = file.read(LOGO_MAX_BYTES + 1)
        if len(content) > LOGO_MAX_BYTES:
            return None
        opened = Image.open(io.BytesIO(content))
        opened.load()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    image = opened.convert("RGBA")
    image.thumbnail((420, 120))
    return image


def draw_share_image(
    *, program: Program, merchant_name: str, headline: str, footer: str, brand: str, text: str
) -> bytes:
    """The PNG: brand-coloured card, logo or name at the top, the headline big, `footer`
    (who invites and where) at the bottom. `brand` and `text` are `#rrggbb`."""
    image = Image.new("RGB", (WIDTH, HEIGHT), _rgb(brand))
    draw = ImageDraw.Draw(image)
    color = _rgb(text)
    top = MARGIN
    logo = _logo(program)
    if logo is not None:
        # A white plate behind the logo: logos are drawn for light backgrounds.
        plate = (MARGIN - 16, top - 16, MARGIN + logo.width + 16, top + logo.height + 16)
        draw.rounded_rectangle(plate, radius=16, fill=(255, 255, 255))
        image.paste(logo, (MARGIN, top), logo)
        top += logo.height + 60
    else:
        name_font = _font(44, bold=True)
        for line in _wrap(draw, merchant_name, name_font, WIDTH - 2 * MARGIN)[:2]:
            draw.text((MARGIN, top), line, font=name_font, fill=color)
            top += 56
        top += 40
    size = 76
    lines: list[str] = []
    while size >= 44:  # the largest size at which the headline fits in four lines
        font = _font(size, bold=True)
        lines = _wrap(draw, headline, font, WIDTH - 2 * MARGIN)
        if len(lines) <= 4 and top + len(lines) * int(size * 1.2) <= HEIGHT - MARGIN - 70:
            break
        size -= 8
    font = _font(size, bold=True)
    for line in lines[:4]:
        draw.text((MARGIN, top), line, font=font, fill=color)
        top += int(size * 1.2)
    footer_font = _font(34, bold=False)
    footer_line = _wrap(draw, footer, footer_font, WIDTH - 2 * MARGIN)[:1]
    if footer_line:
        draw.text((MARGIN, HEIGHT - MARGIN - 34), footer_line[0], font=footer_font, fill=color)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def cached_share_image(key: str, draw: Callable[[], bytes]) -> bytes:
    """The PNG under `key` from the cache, else `draw()`'s, kept for a day."""
    found = cache.get(key)
    if isinstance(found, bytes):
        return found
    content = draw()
    cache.set(key, content, CACHE_SECONDS)
    return content
