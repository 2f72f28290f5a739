"""import_claims: timm's results CSV format from a file or URL, all or nothing, unknown models reported."""

import http.server
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from catalog.models import AccuracyClaim, ModelEntry
from core.claims_csv import ClaimsCsvError, parse_claims_csv

HEADER = "model,img_size,top1,top1_err,top5,top5_err,param_count,crop_pct,interpolation\n"
ROWS = (
    'resnet18.a1_in1k,288,73.16,26.84,91.03,8.97,11.69,1.0,bicubic\n'
    'vit_huge_patch14_clip_336.laion2b_ft_in12k_in1k,336,88.59,11.41,98.66,1.34,"1,013.01",1.0,bicubic\n'
    'not_in_catalog.x,224,50.0,50.0,70.0,30.0,1.0,0.9,bilinear\n'
)  # fmt: skip


@pytest.fixture
def timm_models(make_model):
    make_model(namespace="timm", name="resnet18.a1_in1k")
    make_model(namespace="timm", name="vit_huge_patch14_clip_336.laion2b_ft_in12k_in1k")


def test_it_parses_quoted_thousands_in_param_count():
    rows = parse_claims_csv(HEADER + ROWS)
    assert rows[1].param_count_millions == 1013.01
    assert (rows[0].model, rows[0].top1, rows[0].top5, rows[0].img_size) == (
        "resnet18.a1_in1k",
        73.16,
        91.03,
        288,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,top1\nx,1\n", "missing column(s) model"),
        (HEADER, "no rows"),
        (HEADER + "m,224,abc,0,0,0,1,1,bicubic\n", "line 2: column 'top1' is not a number: 'abc'"),
        (HEADER + "m,224,101,0,0,0,1,1,bicubic\n", "line 2: column 'top1' must be a percentage"),
        (HEADER + "m,22.5,70,0,0,0,1,1,bicubic\n", "line 2: column 'img_size' must be a positive integer"),
        (HEADER + ",224,70,0,0,0,1,1,bicubic\n", "line 2: column 'model' is empty"),
    ],
)
def test_it_names_the_row_and_column_of_bad_data(text, message):
    with pytest.raises(ClaimsCsvError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_claims_csv(text)


def test_it_imports_a_file_and_reports_unknown_models(tmp_path, timm_models):
    path = tmp_path / "results.csv"
    path.write_text(HEADER + ROWS)
    out = StringIO()
    call_command("import_claims", str(path), stdout=out)
    assert "Recorded claims for 2 model(s) on imagenet-1k/validation." in out.getvalue()
    assert "Skipped 1 row(s) for models not in the catalog: not_in_catalog.x" in out.getvalue()
    resnet = ModelEntry.objects.get(name="resnet18.a1_in1k")
    assert resnet.claimed_top1 == 73.16
    assert sorted(resnet.claims.values_list("metric", "value", "img_size")) == [
        ("top1", 73.16, 288),
        ("top5", 91.03, 288),
    ]
    call_command("import_claims", str(path), stdout=StringIO())  # idempotent
    assert AccuracyClaim.objects.count() == 4


def test_a_bad_row_imports_nothing(tmp_path, timm_models):
    path = tmp_path / "results.csv"
    path.write_text(HEADER + ROWS + "resnet18.a1_in1k,224,seventy,0,0,0,1,1,bicubic\n")
    with pytest.raises(CommandError, match="line 5: column 'top1' is not a number"):
        call_command("import_claims", str(path))
    assert AccuracyClaim.objects.count() == 0


def test_a_missing_file_is_a_clear_error(db):
    with pytest.raises(CommandError, match=r"No such file: /nonexistent\.csv"):
        call_command("import_claims", "/nonexistent.csv")


class _CsvHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/results-imagenet.csv":
            self.send_error(404)
            return
        body = (HEADER + ROWS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def csv_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CsvHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_it_imports_from_a_url_and_cites_it(csv_server, timm_models):
    url = f"{csv_server}/results-imagenet.csv"
    call_command("import_claims", url, "--dataset", "imagenet-1k", stdout=StringIO())
    claim = AccuracyClaim.objects.get(model__name="resnet18.a1_in1k", metric="top1")
    assert claim.source == "results-table" and claim.source_url == url
    with pytest.raises(CommandError, match=r"Cannot fetch .*404"):
        call_command("import_claims", f"{csv_server}/missing.csv")
