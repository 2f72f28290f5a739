"""OpenAPI generation: every operation documents the error responses it can give, in the one error shape."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse

from hub.api import ErrorSerializer

# Any operation: bad input (400), a bad token (401), not staff (403, writes), nothing there (404),
# throttled (429). Uploads can also be too large (413).
ERROR_DESCRIPTIONS = {
    "400": "Invalid input; `error` names the offending parameter or field.",
    "401": "Authentication credentials were invalid.",
    "403": "The operation needs a staff account.",
    "404": "No such object, or a page past the end.",
    "429": "Too many requests; retry after the `Retry-After` header's seconds.",
}
UPLOAD_ERRORS = {"413": "The upload is over DEPOT_MAX_UPLOAD_MB."}


class DepotAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        errors = dict(ERROR_DESCRIPTIONS)
        if any(parser.startswith("multipart") for parser in self.map_parsers()) and self.method == "POST":
            errors.update(UPLOAD_ERRORS)
        for code, description in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=description), code, direction=direction
                )
        return responses
