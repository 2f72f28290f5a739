"""The schema says what the API validates (hub/schema.py): the leaderboard documents the catalog filters as the
catalog list does, non-blank strings have a minLength, and the model metadata bounds are the services'."""

from catalog.leaderboard.selectors import FILTERS
from core.model_metadata import MAX_CHANNELS, MAX_NUM_CLASSES, MAX_SIDE


def _query_schemas(schema: dict, path: str) -> dict[str, dict]:
    parameters = schema["paths"][path]["get"]["parameters"]
    return {parameter["name"]: parameter["schema"] for parameter in parameters if parameter["in"] == "query"}


def test_the_leaderboard_filters_are_documented_as_the_catalog_lists(api_client, db):
    schema = api_client.get("/api/schema/?format=json").json()
    board = _query_schemas(schema, "/api/v1/leaderboard/{dataset}/")
    catalog = _query_schemas(schema, "/api/v1/models/")
    assert {name: board[name] for name in FILTERS} == {name: catalog[name] for name in FILTERS}
    assert board["gmacs_max"]["type"] == "number" and board["min_claim"] == catalog["min_claim"]
    assert (board["min_claim"]["minimum"], board["min_claim"]["maximum"]) == (0, 100)
    assert board["page"] == {"type": "integer", "minimum": 1}
    assert "" in board["sort"]["enum"] and "--top1" not in board["sort"]["enum"]


def test_request_bodies_carry_the_bounds_the_api_checks(api_client, db):
    components = api_client.get("/api/schema/?format=json").json()["components"]["schemas"]
    model = components["ModelWrite"]["properties"]
    assert (model["num_classes"]["minimum"], model["num_classes"]["maximum"]) == (1, MAX_NUM_CLASSES)
    assert model["input_size"]["items"]["maximum"] == MAX_SIDE
    assert model["mean"]["maxItems"] == model["std"]["maxItems"] == MAX_CHANNELS
    assert model["title"].get("minLength") is None  # blank allowed
    assert components["RunRequest"]["properties"]["dataset"]["minLength"] == 1
    assert components["RankingRequest"]["properties"]["dataset"]["minLength"] == 1
