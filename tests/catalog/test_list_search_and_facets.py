"""The catalog list at scale (issue 20): word search, the facet-count table, capped counts, constant queries.

These run on SQLite here and again on PostgreSQL in the reliability suite (tests/reliability/test_postgres_redis.py),
where search goes through the generated tsvector column and its GIN index and large counts are estimates: each
test asserts what its database must do.
"""

from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from catalog import selectors, services
from catalog.models import FACET_FIELDS, CatalogFacetCount, ModelEntry
from core import search
from tests.catalog.test_derived_columns import _change_form_data

URL = "/api/v1/models/"
ON_POSTGRES = connection.vendor == "postgresql"


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content[:500]
    return sorted(row["id"] for row in response.json()["results"])


def facet_table() -> Counter:
    return Counter(
        {
            row[:-1]: row[-1]
            for row in CatalogFacetCount.objects.filter(count__gt=0).values_list(*FACET_FIELDS, "count")
        }
    )


def grouped_entries(queryset=None) -> Counter:
    """The plain GROUP BY the facet counts must equal."""
    rows = (
        (queryset if queryset is not None else ModelEntry.objects.all()).order_by().values_list(*FACET_FIELDS)
    )
    return Counter({row[:-1]: row[-1] for row in rows.annotate(n=Count("id"))})


def searchable(model: ModelEntry) -> bool:
    """Whether the entry is found by a search for its own name, through the database's own search path."""
    model.refresh_from_db()
    assert model.search_text == model.build_search_text()
    found = selectors.model_list(query={"search": model.name}).filter(pk=model.pk)
    return found.exists()


# --- what search matches ----------------------------------------------------------------------------------


@pytest.fixture
def timm_like(make_model):
    return [
        make_model(namespace="timm", name="resnet50.a1_in1k", title="resnet50.a1_in1k", tags="timm,resnet50"),
        make_model(namespace="timm", name="cspresnet50.ra_in1k", summary="Cross-stage partial ResNet"),
        make_model(namespace="timm", name="vit_small_patch16_224.augreg_in21k", summary="Vision transformer"),
        make_model(namespace="acme", name="bert-mini", title="Tiny BERT", summary="Small BERT for sentiment"),
    ]


EVERY_TIMM_LIKE_MODEL = sorted(
    [
        "timm/resnet50.a1_in1k",
        "timm/cspresnet50.ra_in1k",
        "timm/vit_small_patch16_224.augreg_in21k",
        "acme/bert-mini",
    ]
)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # a word of the name, whole or its start
        ("resnet50", ["timm/cspresnet50.ra_in1k", "timm/resnet50.a1_in1k"]),  # also inside cspresnet50
        ("resn", ["timm/cspresnet50.ra_in1k", "timm/resnet50.a1_in1k"]),
        ("net50", ["timm/cspresnet50.ra_in1k", "timm/resnet50.a1_in1k"]),  # inside a name's word
        ("cspresnet", ["timm/cspresnet50.ra_in1k"]),
        # timm names split on _ and .; every word of the query must match
        ("vit small", ["timm/vit_small_patch16_224.augreg_in21k"]),
        ("vit_small_patch16", ["timm/vit_small_patch16_224.augreg_in21k"]),
        ("patch16 in21k", ["timm/vit_small_patch16_224.augreg_in21k"]),
        ("vit_small_patch16_224.augreg_in21k", ["timm/vit_small_patch16_224.augreg_in21k"]),
        ("resnet50.a1", ["timm/resnet50.a1_in1k"]),
        ("in1k", ["timm/cspresnet50.ra_in1k", "timm/resnet50.a1_in1k"]),
        ("resnet50 vision", []),  # all words, not any
        # title, summary, tags and namespace: from a word's start, any case
        ("TRANSFORMER", ["timm/vit_small_patch16_224.augreg_in21k"]),
        ("senti", ["acme/bert-mini"]),
        ("tiny bert", ["acme/bert-mini"]),
        ("acme", ["acme/bert-mini"]),
        ("partial resnet", ["timm/cspresnet50.ra_in1k"]),
        ("ansformer", []),  # not from inside a summary's word: only a name's words match from inside
        ("nothing-like-this", []),
        # punctuation alone asks for nothing
        ("-- ++", EVERY_TIMM_LIKE_MODEL),
    ],
)
def test_search_matches_every_word_from_its_start_or_inside_a_name(api_client, timm_like, query, expected):
    assert ids(api_client.get(URL, {"search": query})) == expected


def test_the_search_words_are_the_name_suffixes_then_the_other_fields():
    text = search.document_text(name="cspresnet50.ra_in1k", fields=["timm", "A title", "", "timm,imagenet"])
    words = text.split()
    assert text.startswith(" ") and words[:3] == ["cspresnet50", "ra", "in1k"]
    assert {"resnet50", "net50", "50"} <= set(words) and "0" not in words
    assert {"timm", "title", "imagenet"} <= set(words) and len(words) == len(set(words))
    assert search.query_words("ViT_small vit  .") == ["vit", "small"]
    assert search.tsquery(["vit", "small"]) == "vit:* & small:*"


def test_search_input_with_tsquery_syntax_is_just_words(api_client, timm_like):
    for hostile in ("resnet50 & !vit", "vit:* | bert", "'resnet50'", "(vit <-> small)", "\\", "%_"):
        response = api_client.get(URL, {"search": hostile})
        assert response.status_code == 200, (hostile, response.content[:300])
    assert ids(api_client.get(URL, {"search": "resnet50 & !vit"})) == []  # "vit" must match too
    assert ids(api_client.get(URL, {"search": "(vit <-> small)"})) == [
        "timm/vit_small_patch16_224.augreg_in21k"
    ]


# --- every writer keeps the search words (and PostgreSQL's tsvector) and the facet counts ------------------


def test_register_update_and_patch_keep_search_and_facet_counts(make_model, staff_client):
    model = make_model(namespace="demo", name="edit-me", title="Before", license="mit")
    assert searchable(model) and facet_table() == grouped_entries()
    services.model_update(model=model, title="renamed to zephyr", domain="nlp", task="fill-mask")
    assert ids_for("zephyr") == ["demo/edit-me"] and ids_for("before") == []
    assert facet_table() == grouped_entries()
    response = staff_client.patch(
        "/api/v1/models/demo/edit-me/", {"summary": "quokka net", "license": "apache-2.0"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert ids_for("quokka") == ["demo/edit-me"] and facet_table() == grouped_entries()
    response = staff_client.delete("/api/v1/models/demo/edit-me/")
    assert response.status_code == 204, response.content
    assert facet_table() == grouped_entries() == Counter()


def ids_for(query: str) -> list[str]:
    return sorted(model.model_id for model in selectors.model_list(query={"search": query}))


def test_the_admin_keeps_search_and_facet_counts(client, django_user_model, make_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="pw-root-123"))
    model = make_model(namespace="demo", name="admin-edit", license="mit")
    url = f"/admin/catalog/modelentry/{model.pk}/change/"
    data = {**_change_form_data(client.get(url)), "title": "wombat", "license": "bsd-3-clause"}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert ids_for("wombat") == ["demo/admin-edit"] and facet_table() == grouped_entries()
    assert client.post(f"/admin/catalog/modelentry/{model.pk}/delete/", {"post": "yes"}).status_code == 302
    assert facet_table() == grouped_entries() == Counter()


def test_the_timm_import_and_bulk_create_keep_search_and_facet_counts(db, make_model):
    make_model(namespace="demo", name="already-here")
    call_command(
        "import_timm", "--filter", "resnet18.*", "--skip-results", stdout=StringIO(), stderr=StringIO()
    )
    assert searchable(ModelEntry.objects.get(namespace="timm", name="resnet18.a1_in1k"))
    assert facet_table() == grouped_entries()
    # The upsert path: a re-import rewrites the rows (here, after someone changed a facet value by hand).
    ModelEntry.objects.filter(namespace="timm").update(license="changed-by-hand")
    services.facet_counts_rebuild()
    call_command(
        "import_timm", "--filter", "resnet18.*", "--skip-results", stdout=StringIO(), stderr=StringIO()
    )
    assert facet_table() == grouped_entries()
    assert not ModelEntry.objects.filter(license="changed-by-hand").exists()
    entries = [
        ModelEntry(namespace="bulk", name=f"wav2vec_{i}.base", domain="audio", task="audio-classification",
                   library="transformers", license="mit")
        for i in range(3)
    ]  # fmt: skip
    services.model_bulk_create(entries=entries)
    assert all(searchable(entry) for entry in entries)
    assert ids_for("wav2vec base") == [f"bulk/wav2vec_{i}.base" for i in range(3)]
    assert facet_table() == grouped_entries()


def test_the_migration_and_the_rebuild_give_the_same_counts(make_model):
    for index in range(4):
        make_model(name=f"rebuild-{index}", license=["mit", "MIT", "apache-2.0", ""][index])
    before = facet_table()
    services.facet_counts_rebuild()
    assert facet_table() == before == grouped_entries()


# --- the facet counts and totals the page and the API show --------------------------------------------------


@pytest.fixture
def mixed_catalog(make_model):
    specs = [
        ("vision", "image-classification", "timm", "mit", 5_000_000, 80.0),
        ("vision", "image-classification", "timm", "apache-2.0", 50_000_000, 70.0),
        ("vision", "object-detection", "torchvision", "MIT", 30_000_000, None),
        ("nlp", "fill-mask", "transformers", "apache-2.0", 110_000_000, None),
        ("nlp", "text-classification", "transformers", "", 60_000_000, 90.0),
        ("audio", "audio-classification", "transformers", "cc-by-4.0", 90_000_000, None),
    ]
    for index, (domain, task, library, license_, params, top1) in enumerate(specs * 2):
        make_model(
            name=f"mixed-{index:02d}", domain=domain, task=task, library=library, license=license_,
            num_params=params, summary="imagenet net" if index % 3 else "audio thing",
            claims=[{"dataset": "imagenet-1k", "metric": "top1", "value": top1}] if top1 else [],
        )  # fmt: skip


def page_facets(client, query: str) -> tuple[dict, dict]:
    response = client.get(f"/?{query}")
    assert response.status_code == 200, response.content[:500]
    facets = response.context["facets"]
    return {
        name: {item.value: item.count for item in values} for name, values in facets.items()
    }, response.context


def expected_facets(queryset) -> dict:
    totals = {name: Counter() for name in FACET_FIELDS}
    for key, count in grouped_entries(queryset).items():
        for name, value in zip(FACET_FIELDS, key, strict=True):
            if value:
                totals[name][value] += count
    return {name: dict(counter) for name, counter in totals.items()}


@pytest.mark.parametrize(
    "query",
    [
        "",
        "ordering=-num_params",
        "domain=vision",
        "domain=nlp&license=APACHE-2.0",
        "license=mit",
        "search=imagenet",
        "params_max=60M&domain=vision",
        "min_top1=75",
        "claim_dataset=imagenet-1k&min_claim=75",
        "verified=false&library=transformers",
    ],
)
def test_facet_counts_equal_a_group_by_of_the_filtered_set(client, mixed_catalog, query):
    from django.http import QueryDict

    facets, context = page_facets(client, query)
    filtered = selectors.model_list(query=QueryDict(query), allowed_extra=("page",))
    assert facets == expected_facets(filtered)
    assert context["page"].paginator.count == filtered.count()
    assert context["total"] == ModelEntry.objects.count() == 12
    assert not context["facet_counts_omitted"]


def test_the_api_count_of_the_unfiltered_catalog_is_exact_at_any_size(api_client, mixed_catalog, monkeypatch):
    from hub.pagination import StrictPageNumberPagination

    monkeypatch.setattr(StrictPageNumberPagination, "exact_count_limit", 3)  # as if the catalog were huge
    for query, expected in (("", 12), ("?domain=nlp", 4), ("?license=MIT&ordering=name", 4)):
        body = api_client.get(f"{URL}{query}").json()
        assert (body["count"], body["count_is_estimate"]) == (expected, False), query
    filtered = api_client.get(f"{URL}?params_min=1").json()  # a filter the table does not know: counted
    assert filtered["count_is_estimate"] is ON_POSTGRES


def test_past_the_limit_the_page_says_estimate_and_omits_facet_counts_on_postgresql(
    client, mixed_catalog, monkeypatch
):
    monkeypatch.setattr(selectors, "EXACT_COUNT_LIMIT", 3)
    facets, context = page_facets(client, "params_min=1")
    html = context["page"] and client.get("/?params_min=1").content.decode()
    if ON_POSTGRES:
        assert context["page"].paginator.count_is_estimate and context["facet_counts_omitted"]
        # the catalog's values, most common first, none with a count
        catalog_domains = Counter(ModelEntry.objects.values_list("domain", flat=True))
        listed = context["facets"]["domain"]
        assert [item.value for item in listed] == sorted(
            catalog_domains, key=lambda d: (-catalog_domains[d], d)
        )
        assert all(item.count is None for item in listed)
        facet_html = html.split('aria-label="Filter by facet"')[1]
        assert "about" in html and "too many to count by facet" in facet_html
        assert 'class="n"' not in facet_html
        assert len(context["rows"]) == 12  # every row is still listed (the page reads one row more)
    else:  # SQLite counts everything, exactly
        assert not context["facet_counts_omitted"]
        assert facets == expected_facets(ModelEntry.objects.filter(num_params__gte=1))
        assert "about" not in html.split('class="count"')[1][:80]


# --- a constant number of queries per page ------------------------------------------------------------------


LIST_VARIANTS = [
    "ordering=-num_params",
    "search=imagenet%20net&ordering=-claimed_top1",
    "domain=vision&search=net&params_max=100M&min_top1=60",
    "claim_dataset=imagenet-1k&min_claim=60&ordering=-claim",
    "claim_dataset=imagenet-1k&ordering=claim",
    "min_top1=60",
    "verified=false&ordering=name",
    "license=mit",
]


@pytest.mark.parametrize("query", LIST_VARIANTS)
def test_api_lists_read_in_the_same_number_of_queries_at_any_page_size(api_client, mixed_catalog, query):
    counts = []
    for page_size in (1, 5, 100):
        with CaptureQueriesContext(connection) as queries:
            response = api_client.get(f"{URL}?{query}&page_size={page_size}")
        assert response.status_code == 200, response.content[:300]
        counts.append(len(queries))
    # At most 4: the page, its count and, on PostgreSQL, the planner's estimate read first to decide whether an
    # exact count is worth it (DEPOT_EXACT_COUNT_LIMIT), plus a claim or facet read; never one per row.
    assert counts[0] == counts[1] == counts[2] <= 4, counts


@pytest.mark.parametrize("query", ["", *LIST_VARIANTS])
def test_the_catalog_page_reads_in_a_fixed_number_of_queries(client, make_model, query):
    counts, plot_counts = [], []
    for batch in range(2):  # a page of 6 rows, then a full page of 25
        for index in range(6 if batch == 0 else 30):
            make_model(
                name=f"q-{batch}-{index}", license="mit", num_params=10_000_000, summary="imagenet net",
                claims=[{"dataset": "imagenet-1k", "metric": "top1", "value": 70.0 + index / 10}],
            )  # fmt: skip
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/?{query}")
        assert response.status_code == 200
        counts.append(len(queries))
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/plot.svg?{query}").status_code == 200
        plot_counts.append(len(queries))
    # At most 6: the claim dataset's check, the facet-count table, on PostgreSQL the planner's estimate (is the
    # result small enough to group?), the matches' facets, the page's rows and the hub's dataset names.
    assert counts[0] == counts[1] <= 6, counts
    assert plot_counts[0] == plot_counts[1] <= 2, plot_counts  # the points; the claim dataset's check


# --- PostgreSQL: the search uses its index -------------------------------------------------------------------


def test_on_postgresql_search_reads_the_gin_index(mixed_catalog):
    if not ON_POSTGRES:
        pytest.skip("the tsvector column and its GIN index exist on PostgreSQL only (migration 0004)")
    queryset = selectors.model_list(query={"search": "imagenet net"})
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    assert '"search_vector" @@ to_tsquery' in sql and "imagenet:* & net:*" in params
    with connection.cursor() as cursor:
        # the tiny table would otherwise be scanned (or walked in a btree's order)
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "catalog_me_search_vector" in plan, plan
    assert queryset.count() == 8
