"""docs/results.md, assembled from sections that different benchmark scripts own.

Each script rewrites only its own marked section, so re-measuring one experiment never drops another's numbers.
"""

from __future__ import annotations

from pathlib import Path

from common import ROOT

from embedlab.atomic import write_text

RESULTS_PAGE = ROOT / "docs" / "results.md"
TITLE = "# Results measured here\n\nEvery figure on this page was measured by the script its section names.\n"


def write_section(name: str, markdown: str, page: Path = RESULTS_PAGE) -> Path:
    """Replace the section called `name` in the results page (appending it the first time)."""
    start, end = f"<!-- section: {name} -->", f"<!-- end of section: {name} -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    text = page.read_text(encoding="utf-8") if page.exists() else TITLE
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    return write_text(text, page)
