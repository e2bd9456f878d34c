"""The playground in a real browser (Debian's chromium via Playwright): every page's numbers equal the API's.

Set EMBEDLAB_SCREENSHOTS=DIR to also save each page as DIR/playground-<page>.png (docs/img holds the committed ones).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from embedlab.similarity import band
from tests.server.conftest import WAIT_S
from tests.server.playground_setup import playground_server

CHROMIUM = "/usr/bin/chromium"
DESKTOP = {"width": 1200, "height": 900}
PHONE = {"width": 390, "height": 844}
PAGES = ["similarity", "pooling", "contrastive", "quality", "asymmetric", "matryoshka", "search", "late"]
SHOTS = os.environ.get("EMBEDLAB_SCREENSHOTS")
expect.set_options(timeout=WAIT_S * 1000)  # two busy cores: a page may take seconds to answer


@pytest.fixture(scope="module")
def server():
    with playground_server() as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server, timeout=WAIT_S) as http:
        yield http


@pytest.fixture(scope="module")
def api(client):
    """POST to the server as the pages do: what the page shows must equal this."""
    return lambda path, body: _ok(client.post(path, json=body))


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


class Visit:
    """A browser tab on the server that records every request it makes and refuses any to another host."""

    def __init__(self, browser, base_url: str, viewport: dict) -> None:
        self.host = urlsplit(base_url).netloc
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport=viewport, base_url=base_url, reduced_motion="reduce")
        self.context.set_default_timeout(WAIT_S * 1000)
        self.context.route("**/*", self._guard)
        self.page: Page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _guard(self, route) -> None:
        self.requests.append(route.request.url)
        if urlsplit(route.request.url).netloc == self.host:
            route.continue_()
        else:
            route.abort()

    def open(self, name: str) -> Page:
        self.page.goto(f"/#{name}")
        expect(self.page.locator(f"#page[data-page='{name}']")).to_be_attached(timeout=WAIT_S * 1000)
        return self.page

    def foreign(self) -> list[str]:
        return [url for url in self.requests if urlsplit(url).scheme in ("http", "https", "ws", "wss")
                and urlsplit(url).netloc != self.host]


@pytest.fixture
def visit(browser, server):
    tab = Visit(browser, server, DESKTOP)
    yield tab
    tab.context.close()
    assert tab.errors == [], tab.errors
    assert tab.foreign() == []


def _ok(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def f4(x: float) -> str:
    return f"{x:.4f}"


def snap(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"playground-{name}.png"), full_page=True)


def page_lines(page: Page, selector: str) -> list[str]:
    return [line.strip() for line in page.input_value(selector).splitlines() if line.strip()]


def page_pairs(page: Page, selector: str) -> list[list[str]]:
    return [[part.strip() for part in line.split("|")] for line in page_lines(page, selector)]


def test_similarity_shows_the_classic_pairs_and_any_pair_as_the_api_scores_them(visit, api, client):
    page = visit.open("similarity")
    info = _ok(client.get("/playground/info"))
    pairs = [[p["a"], p["b"]] for p in info["classic_pairs"]]
    scores = [row["score"] for row in api("/v1/similarity", {"pairs": pairs})["data"]]
    rows = page.locator("#sim-classic-table tbody tr")
    expect(rows).to_have_count(6)
    expect(page.locator("#sim-classic-table .cos")).to_have_text([f4(s) for s in scores])
    expect(page.locator("#sim-classic-table .band")).to_have_text([band(s) for s in scores])
    expect(page.locator("#sim-score")).to_have_text(f4(scores[0]))
    page.fill("#sim-a", "A dog runs in the park.")
    page.fill("#sim-b", "A puppy is playing on the grass.")
    page.click("#sim-compare")
    score = api("/v1/similarity", {"pairs": [["A dog runs in the park.", "A puppy is playing on the grass."]]})["data"][
        0
    ]["score"]
    expect(page.locator("#sim-score")).to_have_text(f4(score))
    expect(page.locator("#sim-band")).to_have_text(band(score))
    expect(page.locator("#sim-formula")).to_contain_text(f"= {f4(score)}")
    page.get_by_role("button", name="Load cat / stock market").click()
    expect(page.locator("#sim-score")).to_have_text(f4(scores[3]))
    snap(page, "similarity")


def test_similarity_works_from_the_keyboard_alone(visit, api):
    page = visit.open("similarity")
    expect(page.locator("#sim-classic-table tbody tr")).to_have_count(6)
    for _ in range(30):  # the skip link, the nav, the key box, then the form
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "sim-a":
            break
    assert page.evaluate("document.activeElement.id") == "sim-a"
    page.keyboard.press("Control+A")
    page.keyboard.type("I like green tea.")
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("Green tea is my favourite drink.")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "sim-compare"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"  # a visible focus ring
    page.keyboard.press("Enter")
    score = api("/v1/similarity", {"pairs": [["I like green tea.", "Green tea is my favourite drink."]]})["data"][0][
        "score"
    ]
    expect(page.locator("#sim-score")).to_have_text(f4(score))
    page.focus("#nav a[href='#pooling']")
    page.keyboard.press("Enter")
    expect(page.locator("#page[data-page='pooling']")).to_be_attached()


def test_pooling_ranks_like_the_api_and_the_raw_model_shows_the_cone(visit, api):
    page = visit.open("pooling")
    text, candidates = page.input_value("#pool-text"), page_lines(page, "#pool-candidates")
    trained = api("/playground/pooling", {"text": text, "candidates": candidates})
    expect(page.locator("#pool-model-name")).to_contain_text(trained["model"])
    for strategy, ranked in trained["rankings"].items():
        items = page.locator(f"[data-strategy='{strategy}'] li")
        expect(items).to_have_text([f"{candidates[i]}{f4(ranked['scores'][i])}" for i in ranked["order"]])
    snap(page, "pooling")
    page.check("#pool-raw")
    raw = api("/playground/pooling", {"text": text, "candidates": candidates, "model": "raw"})
    expect(page.locator("#pool-model-name")).to_contain_text(raw["model"])
    unrelated = np.mean([raw["classic"][i]["score"] for i in (3, 5)])
    assert unrelated > 0.8
    expect(page.locator("#pool-cone")).to_contain_text(f"mean cosine of the unrelated pairs: {f4(unrelated)}")
    snap(page, "pooling-raw")


def test_contrastive_training_plays_the_servers_steps(visit, api):
    page = visit.open("contrastive")
    page.fill("#con-temperature", "0.2")
    page.fill("#con-batch", "3")
    page.fill("#con-steps", "30")
    page.click("#con-train")
    pairs = page_pairs(page, "#con-pairs")
    run = api("/playground/contrastive", {"pairs": pairs, "temperature": 0.2, "batch_size": 3, "steps": 30})
    losses = run["losses"]
    assert losses[-1] < losses[0]
    expect(page.locator("#con-final")).to_have_text(f"loss {f4(losses[0])} → {f4(losses[-1])} after 30 steps")
    assert page.locator("svg circle").count() == 1 + len(pairs)  # the unit circle and one dot per anchor
    page.focus("#con-scrub")
    page.keyboard.press("Home")
    expect(page.locator("#con-step")).to_have_text("step 0 of 30")
    expect(page.locator("#con-loss")).to_have_text(f"InfoNCE loss {f4(losses[0])}")
    page.keyboard.press("End")
    snap(page, "contrastive")


def test_contrastive_shows_api_and_input_errors_as_messages(visit):
    page = visit.open("contrastive")
    page.fill("#con-pairs", "only | one pair")
    page.click("#con-train")
    expect(page.locator(".error")).to_have_text(
        "Error (HTTP 400): pairs: List should have at least 2 items after validation, not 1"
    )
    page.fill("#con-pairs", "no separator here")
    page.click("#con-train")
    expect(page.locator(".error")).to_have_text('Error: line 1 is not "text | text"')


def test_quality_table_equals_the_diagnostics_of_both_models(visit, api):
    page = visit.open("quality")
    result = api("/playground/quality", {"pairs": page_pairs(page, "#qual-pairs")})
    for model in ("trained", "raw"):
        for metric in ("anisotropy", "alignment", "uniformity", "effective_rank", "auc"):
            expect(page.locator(f"[data-metric='{metric}'][data-model='{model}']")).to_have_text(f4(result[model][metric]))
    assert result["trained"]["anisotropy"] < result["raw"]["anisotropy"]
    snap(page, "quality")


def test_asymmetric_rankings_equal_the_api(visit, api):
    page = visit.open("asymmetric")
    documents = page_lines(page, "#asym-documents")
    result = api("/playground/asymmetric", {
        "query": page.input_value("#asym-query"), "documents": documents,
        "query_prefix": page.input_value("#asym-qprefix"), "document_prefix": page.input_value("#asym-dprefix"),
    })
    for side in ("symmetric", "asymmetric"):
        ranked = result[side]
        expect(page.locator(f"#asym-{side} li")).to_have_text(
            [f"{documents[i]}{f4(ranked['scores'][i])}" for i in ranked["order"]]
        )
    expect(page.locator("#asym-no-prompts")).to_be_visible()  # all-MiniLM-L6-v2 has no prompts of its own
    snap(page, "asymmetric")


def test_matryoshka_slider_shows_the_cosines_of_truncated_embeddings(visit, api):
    page = visit.open("matryoshka")
    texts = [page.input_value("#mat-query"), *page_lines(page, "#mat-documents")]
    page.focus("#mat-slider")
    page.keyboard.press("End")
    expect(page.locator("#mat-dim")).to_have_text("32 dimensions")
    vectors = np.array([row["embedding"] for row in api("/v1/embeddings", {"input": texts, "dimensions": 32})["data"]])
    cosines = vectors[1:] @ vectors[0]
    for i, cosine in enumerate(cosines):
        expect(page.locator(f"#mat-table [data-doc='{i}']")).to_have_text(f4(cosine))
    snap(page, "matryoshka")


def test_search_and_rag_show_what_the_api_returns(visit, api):
    page = visit.open("search")
    page.fill("#search-query", "how to make onion soup")
    page.check("#search-bm25")
    page.click("#search-run")
    hits = api("/v1/search", {"query": "how to make onion soup", "k": 5, "mode": "bm25"})["data"]
    expect(page.locator("#search-hits > li")).to_have_count(len(hits))
    expect(page.locator("#search-hits .score")).to_have_text(
        [f"{h['doc_id']}#{h['chunk_id']} · {f4(h['score'])}" for h in hits]
    )
    assert page.is_disabled("#search-rerank")  # no --reranker on this server
    page.check("#search-dense")
    page.click("#rag-run")
    rag = api("/playground/rag", {"question": "how to make onion soup", "k": 5, "mode": "dense"})
    expect(page.locator("#rag-answer")).to_have_text(rag["answer"])
    expect(page.locator("#rag-prompt")).to_have_text(rag["prompt"])
    expect(page.locator("#rag-citations > li").first).to_contain_text("[1] soup#0")
    snap(page, "search")


def test_late_interaction_grid_marks_each_query_tokens_maxsim_as_the_api_does(visit, api):
    page = visit.open("late")
    page.fill("#late-query", "who plays guitar")
    page.fill("#late-document", "A man plays the guitar, loudly!")
    page.click("#late-run")
    result = api("/playground/late_interaction", {"query": "who plays guitar",
                                                  "document": "A man plays the guitar, loudly!"})
    expect(page.locator("#late-score")).to_have_text(f4(result["score"]))
    rows = page.locator("#late-grid tbody tr")
    expect(rows).to_have_count(len(result["query_tokens"]))
    expect(page.locator("#late-grid tbody th")).to_have_text(result["query_tokens"])
    expect(page.locator("#late-grid thead th[data-col]")).to_have_text(result["document_tokens"])
    best = page.locator("#late-grid td.best")
    expect(best).to_have_count(len(result["query_tokens"]))  # one MaxSim cell per query token
    assert [int(cell.get_attribute("data-col")) for cell in best.all()] == result["best"]
    expect(page.locator("#late-grid td.row-max")).to_have_text(
        [f4(row[c]) for row, c in zip(result["grid"], result["best"])])
    snap(page, "late")


def test_sparse_terms_mark_the_expansion_terms_the_text_lacks(visit, api):
    page = visit.open("late")
    page.fill("#sparse-text", "Onion soup in the rain")
    page.check("#sparse-query")
    page.click("#sparse-run")
    result = api("/playground/sparse_terms", {"text": "Onion soup in the rain", "side": "query", "top_k": 40})
    expansions = [t["term"] for t in result["terms"] if t["expansion"]]
    assert set(expansions) == {"food", "weather"}
    expect(page.locator("#sparse-terms li .term")).to_have_text([t["term"] for t in result["terms"]])
    expect(page.locator("#sparse-terms li .score")).to_have_text([f4(t["weight"]) for t in result["terms"]])
    expect(page.locator("#sparse-terms li.expansion .term")).to_have_text(expansions)
    expect(page.locator("#sparse-terms li.expansion .tag")).to_have_text(["expansion"] * len(expansions))
    expect(page.locator("#sparse-summary")).to_contain_text(f"{result['nonzero']} non-zero terms")


def test_without_an_index_the_search_page_says_how_to_start_one(browser):
    with playground_server(with_index=False) as url:
        tab = Visit(browser, url, DESKTOP)
        page = tab.open("search")
        expect(page.locator("#search-no-index")).to_contain_text("embedlab serve --model minilm --index")
        page = tab.open("late")  # nor a multi-vector or sparse model: the page says how to load each
        expect(page.locator("#late-no-model")).to_contain_text("--playground-multi-vector DIR")
        expect(page.locator("#sparse-no-model")).to_contain_text("--playground-sparse DIR")
        tab.context.close()
        assert tab.errors == []


def test_every_page_asks_only_this_server(visit):
    for name in PAGES:
        visit.open(name)
    visit.page.click("#nav a[href='#contrastive']")
    visit.page.click("#con-train")
    expect(visit.page.locator("#con-final")).not_to_be_empty()
    paths = {urlsplit(url).path for url in visit.requests}
    assert {f"/assets/pages/{name}.js" for name in PAGES} <= paths  # the recording saw the whole visit
    assert visit.foreign() == []


def test_every_page_fits_a_phone(browser, server):
    tab = Visit(browser, server, PHONE)
    for name in PAGES:  # wide tables and heat maps scroll inside their cards, never the page
        page = tab.open(name)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
    page = tab.open("pooling")
    expect(page.locator("#pool-rankings")).to_be_visible()
    for link in page.locator("#nav a").all():
        box = link.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / "playground-phone.png"), full_page=False)
    tab.context.close()
    assert tab.errors == []
