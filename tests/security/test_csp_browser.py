"""The Content-Security-Policy in a real browser: the pages and the API docs work and nothing is blocked."""

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("path", ["/", "/api/docs/", "/datasets/", "/models/demo/shown/"])
def test_no_csp_violation_on_the_pages(live_server, page, make_model, path):
    make_model(name="shown", num_params=1_000_000, weights_size_bytes=4_000_000,
               claims=[{"dataset": "d", "metric": "top1", "value": 70.0}])  # fmt: skip
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    response = page.goto(f"{live_server.url}{path}")
    assert response.status == 200 and "script-src 'self'" in response.headers["content-security-policy"]
    if path == "/api/docs/":
        page.wait_for_selector(".opblock-tag", timeout=20_000)  # Swagger UI rendered the operations
        assert page.locator(".opblock").count() > 10
    page.wait_for_load_state("networkidle")
    assert violations == []
