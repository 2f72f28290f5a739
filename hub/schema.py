"""OpenAPI generation: every operation documents the error responses it can give (in the one error shape),
reads say they need no credentials, and responses carry OpenAPI links to the operations their ids feed
(so clients, and schemathesis's stateful phase, can follow them)."""

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions

from hub.api import ErrorSerializer
from hub.permissions import IsStaffOrReadOnly

# Any operation: bad input (400), a bad token (401), not staff (403, writes), nothing there (404),
# throttled (429). Uploads can also be too large (413).
ERROR_DESCRIPTIONS = {
    "400": "Invalid input; `error` names the offending parameter or field.",
    "401": "Authentication credentials were invalid.",
    "403": "The operation needs a staff account.",
    "404": "No such object, or a page past the end.",
    "414": "The URL is over 4,096 bytes; send fewer or shorter parameters.",
    "429": "Too many requests; retry after the `Retry-After` header's seconds.",
}
UPLOAD_ERRORS = {"413": "The upload is over DEPOT_MAX_UPLOAD_MB."}


class DepotAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        errors = dict(ERROR_DESCRIPTIONS)
        parsers = self.map_parsers()
        if self.method == "POST" and parsers and all(parser.startswith("multipart") for parser in parsers):
            errors.update(UPLOAD_ERRORS)
        for code, description in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=description), code, direction=direction
                )
        return responses

    def get_auth(self) -> list[dict]:
        auths = super().get_auth()
        staff_writes = any(isinstance(p, IsStaffOrReadOnly) for p in self.view.get_permissions())
        if staff_writes and self.method in permissions.SAFE_METHODS and {} not in auths:
            auths.append({})  # reads are public
        return auths


MODEL_OPERATIONS = ("v1_models_retrieve", "v1_models_partial_update", "v1_models_destroy",
                    "v1_models_claims_list", "v1_models_claims_create", "v1_models_weights_create",
                    "v1_models_starter_bundle_retrieve", "v1_models_starter_bundle_create")  # fmt: skip
DATASET_OPERATIONS = ("v1_datasets_retrieve", "v1_datasets_destroy")
RUN_OPERATIONS = ("v1_benchmarks_retrieve", "v1_benchmarks_cancel_create")
RANKING_OPERATIONS = ("v1_transfer_rankings_retrieve", "v1_transfer_rankings_cancel_create")

# (source operation, status, pointer prefix to one object in the body, targets, {parameter: field})
LINKS = [
    ("v1_models_create", "201", "", MODEL_OPERATIONS, {"namespace": "namespace", "name": "name"}),
    ("v1_models_list", "200", "/results/0", MODEL_OPERATIONS, {"namespace": "namespace", "name": "name"}),
    ("v1_datasets_create", "201", "", DATASET_OPERATIONS, {"name": "name"}),
    ("v1_datasets_list", "200", "/results/0", DATASET_OPERATIONS, {"name": "name"}),
    ("v1_benchmarks_create", "202", "", RUN_OPERATIONS, {"run_id": "id"}),
    ("v1_benchmarks_create", "200", "", RUN_OPERATIONS, {"run_id": "id"}),
    ("v1_benchmarks_list", "200", "/results/0", RUN_OPERATIONS, {"run_id": "id"}),
    ("v1_transfer_rankings_create", "202", "", RANKING_OPERATIONS, {"ranking_id": "id"}),
    ("v1_transfer_rankings_list", "200", "/results/0", RANKING_OPERATIONS, {"ranking_id": "id"}),
]


def add_links(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: OpenAPI links from the operations that return ids."""
    operations = {
        operation["operationId"]: operation
        for path_item in result.get("paths", {}).values()
        for operation in path_item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for source, status, prefix, targets, parameters in LINKS:
        response = operations.get(source, {}).get("responses", {}).get(status)
        if response is None:
            continue
        links = response.setdefault("links", {})
        for target in targets:
            if target in operations:
                links[target] = {
                    "operationId": target,
                    "parameters": {
                        name: f"$response.body#{prefix}/{field}" for name, field in parameters.items()
                    },
                }
    return result
