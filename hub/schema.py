"""OpenAPI generation: every operation documents the error responses it can give (in the one error shape),
reads say they need no credentials, and responses carry OpenAPI links to the operations their ids feed
(so clients, and schemathesis's stateful phase, can follow them)."""

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions, serializers

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

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions=bypass_extensions)
        # DRF refuses a blank CharField unless allow_blank; drf-spectacular leaves minLength out.
        if (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and not field.allow_blank
            and schema.get("type") == "string"
            and "minLength" not in schema
            and "pattern" not in schema
        ):
            schema["minLength"] = 1
        return schema

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


# Operations whose query filters are the catalog list's CatalogFilterSet, documented once by v1_models_list.
FILTER_PARAMETER_COPIES = {"v1_leaderboard_retrieve": "v1_models_list"}


def copy_filter_parameters(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: an operation that filters with the catalog's filters documents each
    one with the schema v1_models_list has for it (django-filter's types, bounds and choices, and the bounds of
    catalog.api.views.LIST_PARAMETER_BOUNDS), so both say exactly what the one filter set accepts."""
    operations = _operations(result)
    for target, source in FILTER_PARAMETER_COPIES.items():
        if target not in operations or source not in operations:
            continue
        documented = {
            parameter["name"]: parameter
            for parameter in operations[source].get("parameters", [])
            if parameter.get("in") == "query"
        }
        for parameter in operations[target].get("parameters", []):
            known = documented.get(parameter["name"])
            if (
                parameter.get("in") == "query"
                and known is not None
                and parameter["name"] not in ("page", "page_size")
            ):
                parameter["schema"] = known["schema"]
    return result


def _operations(result: dict[str, Any]) -> dict[str, dict]:
    return {
        operation["operationId"]: operation
        for path_item in result.get("paths", {}).values()
        for operation in path_item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


def add_links(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: OpenAPI links from the operations that return ids."""
    operations = _operations(result)
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
