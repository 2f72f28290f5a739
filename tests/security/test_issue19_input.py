"""Issue 19: hostile input found by an outside test. Each is a clear 4xx in the README's error shape."""

import json

import pytest

from catalog.models import ModelEntry
from tests.security.conftest import assert_error_shape

API = "/api/v1/models/"

# Text with `%` placeholders: it must be shown as typed, never read as a format string.
PERCENT_QUERIES = [
    ("claim_dataset=%25", "claim_dataset"),
    ("claim_dataset=%25(x)s", "claim_dataset"),
    ("claim_dataset=%25s%25d%25%25", "claim_dataset"),
    ("params_min=%25s", "params_min"),
    ("params_max=%25s", "params_max"),
    ("params_max=%25(value)s", "params_max"),
    ("min_top1=%25s", "min_top1"),
    ("ordering=%25s", "ordering"),
    ("domain=%25(x)s", "domain"),
    ("page=%25s", "page"),
    ("page_size=%25s", "page_size"),
]


@pytest.mark.parametrize(("query", "parameter"), PERCENT_QUERIES)
def test_it_refuses_percent_signs_in_query_values_with_a_400_naming_the_parameter(
    api_client, make_model, nothing_stored, query, parameter
):
    make_model(name="target", num_params=5_000_000, claims=[_claim()])
    body = assert_error_shape(api_client.get(f"{API}?{query}"), 400)
    assert parameter in body["error"], body
    nothing_stored()


def test_it_shows_the_users_text_verbatim_in_the_message(api_client, make_model):
    make_model(name="target", claims=[_claim()])
    body = assert_error_shape(api_client.get(f"{API}?claim_dataset=%25(x)s"), 400)
    assert "'%(x)s'" in body["error"], body


@pytest.mark.parametrize(("query", "parameter"), PERCENT_QUERIES)
@pytest.mark.parametrize("path", ["/", "/plot.svg"])
def test_the_page_and_the_plot_refuse_percent_signs_with_a_400(client, make_model, path, query, parameter):
    if path == "/plot.svg" and parameter == "page":
        pytest.skip("the plot draws the whole query and ignores page")
    make_model(name="target", num_params=5_000_000, claims=[_claim()])
    response = client.get(f"{path}?{query}")
    assert response.status_code == 400, response.content[:300]
    assert parameter in response.content.decode()


def _claim() -> dict:
    return {"dataset": "imagenet-1k", "metric": "top1", "value": 70.0}


# --- deeply nested JSON bodies -------------------------------------------------------------------------------

DEPTH = 100_000
NESTED_BODIES = {
    "lists": "[" * DEPTH + "]" * DEPTH,
    "objects": '{"a":' * DEPTH + "1" + "}" * DEPTH,
    "unclosed": "[" * DEPTH,
    "inside a field": '{"num_classes": ' + "[" * DEPTH + "]" * DEPTH + "}",
}


def _post_json(client, url: str, body: str):
    return client.post(url, data=body.encode(), content_type="application/json")


@pytest.mark.parametrize("body", NESTED_BODIES.values(), ids=NESTED_BODIES.keys())
def test_it_refuses_a_deeply_nested_starter_bundle_request(api_client, make_model, nothing_stored, body):
    model = make_model(name="target")
    url = f"{API}{model.namespace}/{model.name}/starter-bundle/"
    assert_error_shape(_post_json(api_client, url, body), 400, mentions="nested")
    nothing_stored()


@pytest.mark.parametrize("body", NESTED_BODIES.values(), ids=NESTED_BODIES.keys())
def test_it_refuses_a_deeply_nested_registration(staff_client, nothing_stored, db, body):
    assert_error_shape(_post_json(staff_client, API, body), 400, mentions="nested")
    assert not ModelEntry.objects.exists()
    nothing_stored()


@pytest.mark.parametrize("body", NESTED_BODIES.values(), ids=NESTED_BODIES.keys())
def test_it_refuses_a_deeply_nested_claim(staff_client, make_model, nothing_stored, body):
    model = make_model(name="target")
    url = f"{API}{model.namespace}/{model.name}/claims/"
    assert_error_shape(_post_json(staff_client, url, body), 400, mentions="nested")
    assert not model.claims.exists()
    nothing_stored()


def test_it_refuses_a_deeply_nested_update(staff_client, make_model, nothing_stored):
    model = make_model(name="target", title="kept")
    url = f"{API}{model.namespace}/{model.name}/"
    response = staff_client.patch(
        url, data=NESTED_BODIES["objects"].encode(), content_type="application/json"
    )
    assert_error_shape(response, 400, mentions="nested")
    model.refresh_from_db()
    assert model.title == "kept"
    nothing_stored()


def test_brackets_inside_strings_do_not_count_as_nesting(staff_client, db):
    summary = '["\\' + "[" * 200 + "{" * 200
    response = staff_client.post(
        API,
        data={"namespace": "demo", "name": "brackets", "summary": summary, **_entry()},
        format="json",
    )
    assert response.status_code == 201, response.content[:300]
    assert ModelEntry.objects.get(name="brackets").summary == summary


@pytest.mark.parametrize(
    ("text", "too_deep"),
    [
        ("[" * 65 + "]" * 65, True),
        ("[" * 64 + "]" * 64, False),
        ('{"a": "' + "[" * 100 + '"}', False),
        ('{"a": "\\"' + "[" * 100 + '"}', False),  # an escaped quote does not end the string
        ('{"a": "\\\\"' + "[" * 100, True),  # an escaped backslash does
        ('"' * 7 + "[" * 100, False),  # the last string is unclosed: its brackets are text
    ],
)
def test_the_depth_check_reads_strings_as_json_does(text, too_deep):
    from hub.parsers import json_depth_exceeds

    assert json_depth_exceeds(text, limit=64) is too_deep


def test_the_depth_check_is_linear_on_many_unclosed_strings():
    import time

    from hub.parsers import json_depth_exceeds

    started = time.perf_counter()
    assert not json_depth_exceeds('"\\"' * 500_000, limit=64)
    assert time.perf_counter() - started < 2


def test_it_still_takes_ordinary_nesting(staff_client, db):
    body = {"namespace": "demo", "name": "nested-ok", "tags": ["a", "b"], **_entry()}
    response = staff_client.post(API, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content[:300]


def _entry() -> dict:
    return {"domain": "vision", "task": "image-classification", "library": "timm"}


# --- ids unique whatever their case --------------------------------------------------------------------------


@pytest.mark.parametrize(("namespace", "name"), [("Demo", "digits-resnet10t"), ("demo", "Digits-ResNet10t")])
def test_it_refuses_an_id_that_differs_only_in_case(staff_client, make_model, namespace, name):
    make_model(namespace="demo", name="digits-resnet10t")
    response = staff_client.post(API, data={"namespace": namespace, "name": name, **_entry()}, format="json")
    body = assert_error_shape(response, 400, mentions="demo/digits-resnet10t")
    assert "case" in body["error"].lower(), body
    assert ModelEntry.objects.count() == 1


def test_the_service_refuses_it_too(make_model):
    from django.core.exceptions import ValidationError

    from catalog import services

    make_model(namespace="demo", name="digits-resnet10t")
    with pytest.raises(ValidationError, match="demo/digits-resnet10t"):
        services.model_register(namespace="DEMO", name="digits-resnet10t", **_entry())
    assert ModelEntry.objects.count() == 1


def test_the_database_refuses_it_without_the_service(make_model):
    from django.db import IntegrityError, transaction

    model = make_model(namespace="demo", name="digits-resnet10t")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelEntry.objects.create(
            namespace="Demo",
            name="digits-resnet10t",
            domain=model.domain,
            task=model.task,
            library=model.library,
        )


def test_lookups_by_id_stay_exact(api_client, make_model):
    make_model(namespace="demo", name="digits-resnet10t")
    assert api_client.get(f"{API}demo/digits-resnet10t/").status_code == 200
    assert_error_shape(api_client.get(f"{API}Demo/digits-resnet10t/"), 404)


# --- nested field errors as plain text -----------------------------------------------------------------------


def test_nested_field_errors_are_plain_strings(staff_client, db):
    body = {"namespace": "demo", "name": "bad-tags", "tags": [1, {"x": 1}, ["y"]], **_entry()}
    response = staff_client.post(API, data=body, format="json")
    payload = assert_error_shape(response, 400, mentions="tags")
    assert "ErrorDetail" not in response.content.decode(), payload
    # 1 is no string either: a JSON body is held to its documented types (hub/strict_json.py).
    assert payload["error"] == "Invalid tags: item 0: Must be a JSON string, not int '1'.", payload
    assert payload["detail"] == {
        "tags": {
            "0": ["Must be a JSON string, not int '1'."],
            "1": ["Must be a JSON string, not dict \"{'x': 1}\"."],
            "2": ["Must be a JSON string, not list \"['y']\"."],
        }
    }
    assert not ModelEntry.objects.exists()


def test_nested_claim_errors_are_plain_strings(staff_client, make_model):
    model = make_model(name="target")
    url = f"{API}{model.namespace}/{model.name}/claims/"
    response = staff_client.post(
        url, data={"dataset": ["x"], "metric": {"a": 1}, "value": [1]}, format="json"
    )
    assert_error_shape(response, 400)
    assert "ErrorDetail" not in response.content.decode()


def test_the_migration_stops_on_ids_that_already_differ_only_in_case(make_model):
    import importlib

    from django.apps import apps
    from django.db import connection

    migration = importlib.import_module("catalog.migrations.0005_model_id_unique_whatever_case")
    model = make_model(namespace="demo", name="digits-resnet10t")
    with connection.cursor() as cursor:  # as before 0005 (DDL is rolled back with the test's transaction)
        cursor.execute('DROP INDEX "unique_model_id_ci"')
    twin = ModelEntry(namespace="Demo", name="Digits-ResNet10t", domain=model.domain, task=model.task)
    ModelEntry.objects.bulk_create([twin])
    with pytest.raises(migration.CaseCollisions, match="Demo/Digits-ResNet10t = demo/digits-resnet10t"):
        migration.refuse_case_collisions(apps, None)


def test_the_timm_import_skips_a_name_held_in_another_case_and_says_so(make_model):
    from io import StringIO

    from django.core.management import call_command

    squatter = make_model(namespace="Timm", name="resnet18.a1_in1k")
    err = StringIO()
    call_command("import_timm", "--filter", "resnet18.*", "--skip-results", stdout=StringIO(), stderr=err)
    assert "resnet18.a1_in1k" in err.getvalue() and "letter case" in err.getvalue()
    assert not ModelEntry.objects.filter(namespace="timm", name="resnet18.a1_in1k").exists()
    assert ModelEntry.objects.filter(namespace="timm", name__startswith="resnet18.").exists()
    assert ModelEntry.objects.filter(pk=squatter.pk).exists()


@pytest.mark.parametrize("url", ["/api/v1/benchmarks/", "/api/v1/transfer-rankings/"])
def test_the_evaluation_endpoints_refuse_deeply_nested_bodies_too(staff_client, db, url, nothing_stored):
    assert_error_shape(_post_json(staff_client, url, NESTED_BODIES["lists"]), 400, mentions="nested")
    nothing_stored()


def test_the_admins_validation_refuses_a_rename_into_a_case_twin(make_model):
    """The admin's form validates the model's constraints; a rename to another case of a taken id is refused."""
    from django.core.exceptions import ValidationError

    make_model(namespace="demo", name="digits-resnet10t")
    other = make_model(namespace="acme", name="other")
    other.namespace, other.name = "DEMO", "digits-resnet10t"
    with pytest.raises(ValidationError, match="another letter case"):
        other.validate_constraints()
