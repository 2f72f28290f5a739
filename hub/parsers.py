"""The API's JSON parser: DRF's, refusing bodies nested deeper than any real request before parsing them.

Python's json module recurses once per level, so a body of 100,000 `[` raised RecursionError (a 500) from an
anonymous POST; it is refused with a 400 in the usual error shape instead.
"""

import re
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json

# Far beyond any Depot request (the deepest, a claim or a bundle config, is 3 levels), far below the
# interpreter's recursion limit (1,000), whatever the stack already holds when the view parses.
MAX_JSON_DEPTH = 64

# A JSON string, escapes included. The closing quote is optional so that an unclosed string matches up to the
# end in one pass: with it required, a body of many unclosed strings would be rescanned from every quote.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def json_depth_exceeds(text: str, *, limit: int) -> bool:
    """Whether the arrays and objects of `text` nest deeper than `limit` (brackets in strings do not count).
    Works on malformed text too: an unclosed `[[[[` is as deep as a closed one."""
    depth = 0
    for bracket in _BRACKETS.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            return True
    return False


class DepthLimitedJSONParser(JSONParser):
    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: dict | None = None
    ) -> Any:
        encoding = get_encoding(parser_context or {})
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # also for a body sent without a Content-Length
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise ParseError(f"The request body is over the {limit / 1_000_000:g} MB limit.")
        try:
            text = body.decode(encoding)
        except UnicodeDecodeError as error:
            raise ParseError(
                f"JSON parse error - the body is not valid {encoding}: {error.reason}."
            ) from None
        if json_depth_exceeds(text, limit=MAX_JSON_DEPTH):
            raise ParseError(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.")
        return self._parse_text(text)

    def _parse_text(self, text: str) -> Any:
        try:
            return json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from None
        except RecursionError:
            # The depth check should make this unreachable; kept so no body can ever turn into a 500.
            raise ParseError(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.") from None
