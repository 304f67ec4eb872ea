"""JSON parsing that answers 400, not 500, for every malformed body.

DRF's JSONParser turns `ValueError` into a 400 but lets `RecursionError` through, so a body of a
few thousand nested brackets became a 500. This is the API's default parser (settings).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class JSONObjectParser(JSONParser):
    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
