"""The OpenAPI schema documents the error responses, and the claims list is the array it returns."""

import pytest

ERROR_CODES = ("400", "401", "403", "404", "429")


@pytest.fixture
def schema(api_client, db) -> dict:
    response = api_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_every_operation_documents_the_error_responses_in_the_error_shape(schema):
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail", "error"]
    for path, method, operation in operations(schema):
        for code in ERROR_CODES:
            response = operation["responses"].get(code)
            assert response, f"{method.upper()} {path} does not document {code}"
            assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_reads_are_documented_as_public_and_writes_as_authenticated(schema):
    for path, method, operation in operations(schema):
        public = {} in operation.get("security", [])
        if method == "get":
            assert public, f"GET {path}"
        elif "starter-bundle" not in path:
            assert not public, f"{method.upper()} {path}"


def test_the_claims_list_matches_its_schema(schema, api_client, make_model):
    documented = schema["paths"]["/api/v1/models/{namespace}/{name}/claims/"]["get"]["responses"]["200"]
    assert documented["content"]["application/json"]["schema"]["type"] == "array"
    make_model(name="claimed", claims=[{"dataset": "d", "metric": "top1", "value": 70.5}])
    body = api_client.get("/api/v1/models/demo/claimed/claims/").json()
    assert isinstance(body, list) and body[0]["value"] == 70.5


def test_operations_link_the_ids_they_return_to_the_operations_that_take_them(schema):
    created = schema["paths"]["/api/v1/models/"]["post"]["responses"]["201"]["links"]
    assert created["v1_models_retrieve"]["parameters"] == {
        "namespace": "$response.body#/namespace",
        "name": "$response.body#/name",
    }
    queued = schema["paths"]["/api/v1/benchmarks/"]["post"]["responses"]["202"]["links"]
    assert queued["v1_benchmarks_retrieve"]["parameters"] == {"run_id": "$response.body#/id"}
