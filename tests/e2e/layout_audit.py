"""Layout and accessibility audit of Depot's main pages in a real Chromium, shared by tests/e2e/test_layout_a11y.py
(which asserts) and benchmarks/layout_a11y.py (which reports): page width against the viewport, <h1> count, the
skip link, axe-core's violations by impact, and the Tab presses from the top of the catalog to its first result.

axe-core is vendored under tests/e2e/vendor/ (see SOURCE there) and evaluated through the DevTools protocol, so
it runs on the pages as served, under their Content-Security-Policy (an injected <script> tag would be refused).
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

from django.test import Client

REPO = Path(__file__).resolve().parents[2]
AXE_SOURCE = (Path(__file__).resolve().parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
ARTIFACTS = REPO / "test-artifacts" / "a11y"
VIEWPORTS = {"1280": {"width": 1280, "height": 800}, "390": {"width": 390, "height": 844}}
IMPACTS = ("critical", "serious", "moderate", "minor")
FIRST_RESULT = "table.models tbody a.model-id"
# WCAG 2.1 AA and axe's best practices (the region, landmark and heading-order rules among them).
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
    "resultTypes": ["violations"],
}
DUPLICATE_IDS = (
    "(() => { const seen = new Set(), twice = new Set(); for (const e of document.querySelectorAll('[id]')) "
    "{ (seen.has(e.id) ? twice : seen).add(e.id); } return [...twice]; })()"
)
PLOT_POINTS = (
    "document.querySelector('figure.plot object')?.contentDocument?.querySelectorAll('circle').length"
)


@dataclass
class PageAudit:
    page: str
    width: int
    scroll_width: int
    h1_count: int
    skip_link_ok: bool
    violations: dict[str, list[str]] = field(default_factory=dict)  # impact -> "rule-id (nodes: targets)"
    nodes: dict[str, int] = field(default_factory=dict)  # impact -> elements failing its rules
    duplicate_ids: list[str] = field(default_factory=list)
    tab_presses: int | None = None  # catalog only: Tab presses to the first result, None if not reached
    wide_elements: list[str] = field(default_factory=list)

    def count(self, impact: str) -> str:
        """Rules violated at this impact, with the elements failing them: "2/19"."""
        return f"{len(self.violations.get(impact, []))}/{self.nodes.get(impact, 0)}"


def staff_session_cookie(user, base_url: str) -> dict:
    """A signed-in staff session for the browser: the pages then show every form they have."""
    client = Client()
    client.force_login(user)
    return {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base_url}


def run_axe(page) -> tuple[dict[str, list[str]], dict[str, int]]:
    """axe-core's violations on the page: the rules by impact, and how many elements fail them."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE_SOURCE + "\n;undefined")
    results = page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
    rules: dict[str, list[str]] = {}
    nodes: dict[str, int] = {}
    for violation in results["violations"]:
        impact = violation["impact"] or "minor"
        targets = ", ".join(" ".join(node["target"]) for node in violation["nodes"][:3])
        rules.setdefault(impact, []).append(f"{violation['id']} ({len(violation['nodes'])}: {targets})")
        nodes[impact] = nodes.get(impact, 0) + len(violation["nodes"])
    return rules, nodes


def wide_elements(page) -> list[str]:
    """Elements sticking out past the viewport's right edge, outside any box that scrolls on its own."""
    return page.evaluate(
        """() => [...document.querySelectorAll('body *')].filter(e => {
             const box = e.getBoundingClientRect(), edge = document.documentElement.clientWidth + 1;
             // its own box, or the text spilling out of it (a long word in a paragraph)
             const spill = getComputedStyle(e).overflowX === 'visible' ? e.scrollWidth : 0;
             const right = Math.max(box.right, box.left + spill);
             if (right <= edge) return false;
             for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
               const x = getComputedStyle(p).overflowX;
               const clips = x === 'auto' || x === 'scroll' || x === 'hidden';
               if (clips && p.getBoundingClientRect().right <= document.documentElement.clientWidth + 1) return false;
             }
             return true;
           }).slice(0, 8).map(e => e.tagName.toLowerCase() + (e.className && typeof e.className === 'string'
             ? '.' + e.className.trim().split(/\\s+/).join('.') : '') + ' ' + Math.round(Math.max(
             e.getBoundingClientRect().right, e.getBoundingClientRect().left + e.scrollWidth)) + 'px')"""
    )


def skip_link_moves_focus_to_main(page) -> bool:
    """The first Tab stop is a visible "skip to content" link and following it focuses <main>."""
    page.evaluate("document.activeElement?.blur()")
    page.keyboard.press("Tab")
    first = page.evaluate(
        "(() => { const e = document.activeElement; return e && e.tagName === 'A' ? "
        "{href: e.getAttribute('href'), visible: e.getBoundingClientRect().height > 0} : null })()"
    )
    if not first or not first["href"] or not first["href"].startswith("#") or not first["visible"]:
        return False
    page.keyboard.press("Enter")
    return page.evaluate("document.activeElement?.tagName === 'MAIN'")


def tab_presses_to(page, selector: str, *, limit: int) -> int | None:
    """Tab presses from the top of the page until `selector` has the focus; None if `limit` presses do not."""
    page.evaluate("document.activeElement?.blur(); window.scrollTo(0, 0)")
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return presses
    return None


def wait_for_catalog_plot(page, *, timeout: float = 30) -> None:
    """The catalog's plot is its own SVG document inside an <object>; polled from Python (the CSP refuses
    wait_for_function's eval)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(PLOT_POINTS):
        assert time.monotonic() < deadline, "the catalog plot never showed a point"
        page.wait_for_timeout(50)


def audit_pages(
    browser, base_url: str, pages: dict[str, str], *, cookie: dict | None = None, tab_limit: int = 600
) -> list[PageAudit]:
    """Every page at every width, one browser context per width; a full-page screenshot of each."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    audits = []
    for width_name, viewport in VIEWPORTS.items():
        context = browser.new_context(viewport=viewport)
        if cookie:
            context.add_cookies([cookie])
        page = context.new_page()
        try:
            for name, path in pages.items():
                page.goto(base_url + path)
                if name == "catalog":
                    wait_for_catalog_plot(page)
                violations, nodes = run_axe(page)
                audit = PageAudit(
                    page=name,
                    width=viewport["width"],
                    scroll_width=page.evaluate("document.documentElement.scrollWidth"),
                    h1_count=page.locator("h1").count(),
                    skip_link_ok=skip_link_moves_focus_to_main(page),
                    violations=violations,
                    nodes=nodes,
                    wide_elements=wide_elements(page),
                    duplicate_ids=page.evaluate(DUPLICATE_IDS),
                )
                if name == "catalog":
                    audit.tab_presses = tab_presses_to(page, FIRST_RESULT, limit=tab_limit)
                page.screenshot(
                    path=str(ARTIFACTS / f"{name.replace(' ', '-')}-{width_name}.png"), full_page=True
                )
                audits.append(audit)
        finally:
            context.close()
    return audits


def format_table(audits: list[PageAudit]) -> str:
    """Page by width: its scrollWidth, <h1> count, skip link, axe-core rules/elements by impact, Tab presses."""
    header = (
        f"{'page':<12} {'width':>5} {'scrollWidth':>11} {'h1':>3} {'skip':>4} {'critical':>8} {'serious':>7} "
        f"{'moderate':>8} {'minor':>5} {'tabs':>5} {'dup ids':>7}"
    )
    lines = [header, "-" * len(header)]
    for audit in audits:
        tabs = "" if audit.page != "catalog" else (str(audit.tab_presses) if audit.tab_presses else "never")
        lines.append(
            f"{audit.page:<12} {audit.width:>5} {audit.scroll_width:>11} {audit.h1_count:>3} "
            f"{'yes' if audit.skip_link_ok else 'no':>4} {audit.count('critical'):>8} {audit.count('serious'):>7} "
            f"{audit.count('moderate'):>8} {audit.count('minor'):>5} {tabs:>5} {len(audit.duplicate_ids):>7}"
        )
    return "\n".join(lines)


def format_details(audits: list[PageAudit]) -> str:
    """The violated rules and the elements that stick out, page by page."""
    lines = []
    for audit in audits:
        found = [f"  {impact}: {rule}" for impact in IMPACTS for rule in audit.violations.get(impact, [])]
        if audit.duplicate_ids:
            found.append(f"  duplicate ids: {', '.join(audit.duplicate_ids)}")
        if audit.wide_elements:
            found.append(f"  wider than the screen: {', '.join(audit.wide_elements)}")
        if found:
            lines += [f"{audit.page} at {audit.width}px:", *found]
    return "\n".join(lines)


def write_report(audits: list[PageAudit]) -> str:
    report = format_table(audits) + "\n\n" + format_details(audits) + "\n"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "report.txt").write_text(report, encoding="utf-8")
    return report
