"""Layout and accessibility of the main pages in Chromium at 1280x800 and 390x844: page width (scrollWidth; the
viewport's width means no horizontal scroll), <h1> count, whether the first Tab stop is a skip link to <main>,
axe-core 4.14.1's violations by impact as rules/elements, and the Tab presses from the top of the catalog to its
first result. It runs tests/e2e/test_layout_a11y.py (its seeded catalog, run and ranking; its helpers in
tests/e2e/layout_audit.py), whose report it prints whether the test's assertions hold or not; screenshots are
in test-artifacts/a11y/. It reports; the test asserts.
Run: .venv/bin/python benchmarks/layout_a11y.py

Before the layout work (templates, CSS and plot code as of fdbfd46), signed in as staff; rules/elements per
impact, tabs = Tab presses from the top of the catalog to its first result (benchmarks/layout_a11y_before.txt
has the rules and elements):

page         width scrollWidth  h1 skip critical serious moderate minor  tabs dup ids
-------------------------------------------------------------------------------------
catalog       1280        1467   0   no      0/0    2/20      1/1   0/0    78       0
timm model    1280        1309   2   no      0/0    3/14      0/0   1/2             0
demo model    1280        1280   2   no      0/0    3/10      0/0   0/0             2
compare       1280        1280   1   no      0/0     2/3      0/0   1/1             0
leaderboard   1280        1280   1   no      0/0    2/57      0/0   0/0             0
run           1280        1280   1   no      0/0     2/5      0/0   0/0             0
ranking       1280        1280   1   no      0/0     2/6      0/0   1/1             0
rankings      1280        1280   1   no      0/0     2/4      0/0   0/0             0
datasets      1280        1280   1   no      0/0     2/3      0/0   0/0             0
catalog        390        1183   0   no      0/0    2/20      1/1   0/0    78       0
timm model     390         772   2   no      0/0    3/12      0/0   1/2             0
demo model     390         877   2   no      0/0     2/9      0/0   0/0             2
compare        390         781   1   no      0/0     2/3      0/0   1/1             0
leaderboard    390         390   1   no      0/0    2/58      0/0   0/0             0
run            390         526   1   no      0/0     3/6      0/0   0/0             0
ranking        390         966   1   no      0/0     3/7      0/0   1/1             0
rankings       390         585   1   no      0/0     2/4      0/0   0/0             0
datasets       390         500   1   no      0/0     2/3      0/0   0/0             0

After (the one minor rule left is in the timm model's card: its Markdown table's header cells are empty):

page         width scrollWidth  h1 skip critical serious moderate minor  tabs dup ids
-------------------------------------------------------------------------------------
catalog       1280        1280   1  yes      0/0     0/0      0/0   0/0    12       0
timm model    1280        1280   1  yes      0/0     0/0      0/0   1/2             0
demo model    1280        1280   1  yes      0/0     0/0      0/0   0/0             0
compare       1280        1280   1  yes      0/0     0/0      0/0   0/0             0
leaderboard   1280        1280   1  yes      0/0     0/0      0/0   0/0             0
run           1280        1280   1  yes      0/0     0/0      0/0   0/0             0
ranking       1280        1280   1  yes      0/0     0/0      0/0   0/0             0
rankings      1280        1280   1  yes      0/0     0/0      0/0   0/0             0
datasets      1280        1280   1  yes      0/0     0/0      0/0   0/0             0
catalog        390         390   1  yes      0/0     0/0      0/0   0/0    12       0
timm model     390         390   1  yes      0/0     0/0      0/0   1/2             0
demo model     390         390   1  yes      0/0     0/0      0/0   0/0             0
compare        390         390   1  yes      0/0     0/0      0/0   0/0             0
leaderboard    390         390   1  yes      0/0     0/0      0/0   0/0             0
run            390         390   1  yes      0/0     0/0      0/0   0/0             0
ranking        390         390   1  yes      0/0     0/0      0/0   0/0             0
rankings       390         390   1  yes      0/0     0/0      0/0   0/0             0
datasets       390         390   1  yes      0/0     0/0      0/0   0/0             0
"""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REPORT = REPO / "test-artifacts" / "a11y" / "report.txt"


def main() -> int:
    REPORT.unlink(missing_ok=True)
    test = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/e2e/test_layout_a11y.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if not REPORT.exists():  # the test failed before auditing: show why
        print(test.stdout[-4000:], test.stderr[-2000:], sep="\n")
        return 1
    print(REPORT.read_text(encoding="utf-8"))
    print(f"(test {'passed' if test.returncode == 0 else 'failed'}; screenshots in {REPORT.parent})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
