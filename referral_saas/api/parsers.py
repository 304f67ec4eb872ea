"""JSON parsing that answers 400, not 500, for every malformed body.

DRF's JSONParser turns `ValueError` into a 400 but lets `RecursionError` through, so a body of a
few thousand nested brackets became a 500. This is the API's default parser (settings).

It is also the one boundary for text: JSON may spell a lone UTF-16 surrogate (`"\\ud800"`), which
Python decodes into a `str` that no database driver, log handler or email can encode, and NUL,
which PostgreSQL cannot store in text or jsonb. Either, in any value or key at any depth, is a
400 naming the field (`customer.name`, `metadata.note`, `items[2]`) before a view sees the body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from referral_saas.api.errors import ApiError

_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored or logged, or None when it can."""
    if "\x00" in text:
        return "Text cannot contain NUL (\\u0000) characters."
    if _SURROGATE.search(text):
        # json.loads joins a valid pair into one character: any surrogate left is alone.
        return (
            "Text must be valid Unicode: a lone UTF-16 surrogate (\\ud800-\\udfff) "
            "is not a character."
        )
    return None


def invalid_text_at(value: Any) -> tuple[str | None, str] | None:
    """The path of the first string (or key) in `value` that `text_problem` refuses, and why.
    Iterative, so a body nested as deep as the parser allows cannot overflow the stack."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return (path or None, problem)
        elif isinstance(item, dict):
            children: list[tuple[str, Any]] = []
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                problem = text_problem(str(key))
                if problem is not None:
                    # The key itself is the field; name its parent (or the body) printably.
                    return (path or None, "A field name: " + problem[0].lower() + problem[1:])
                children.append((child_path, child))
            stack.extend(reversed(children))  # report the first bad field in body order
        elif isinstance(item, list):
            stack.extend(
                reversed([(f"{path}[{index}]", child) for index, child in enumerate(item)])
            )
    return None


class JSONObjectParser(JSONParser):
    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        found = invalid_text_at(data)
        if found is not None:
            path, message = found
            raise ApiError(
                status_code=400,
                type="invalid_request_error",
                code="invalid",
                message=message,
                param=path,
            )
        return data
