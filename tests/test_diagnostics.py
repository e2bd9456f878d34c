"""Embedding-space diagnostics on hand-checkable geometry, as properties, on files, as plots and on real models."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from embedlab.atomic import write_json
from embedlab.demo import DEMO_PAIRS, random_bert
from embedlab.errors import EmbedlabError
from embedlab.evaluation.diagnostic_plots import save_plots
from embedlab.evaluation.diagnostics import (
    DiagnoseConfig,
    DiagnoseInput,
    alignment,
    anisotropy,
    anisotropy_centered,
    cosine_stats,
    diagnose,
    distribution_overlap,
    effective_rank,
    granularity,
    read_diagnose_input,
    sample_pairs,
    separation_auc,
    top_pc_variance_share,
    uniformity,
)
from embedlab.similarity import cosine_similarity
from tests.conftest import real_data
from tests.files import write_jsonl

FLOATS = st.floats(-10, 10, allow_nan=False, width=32)
MATRICES = st.tuples(st.integers(2, 12), st.integers(1, 6)).flatmap(lambda s: arrays(np.float64, s, elements=FLOATS))
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class LetterCounts:
    """A tiny deterministic encoder: letter counts a-z, so texts sharing letters point the same way."""

    name = "letters"

    def encode(self, texts, batch_size: int = 32) -> np.ndarray:
        return np.array([[t.lower().count(c) for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts], np.float32)


def simplex(n: int) -> np.ndarray:
    """n unit vectors with pairwise cosine -1/(n-1): the most spread-out n points there are."""
    centred = np.eye(n) - 1.0 / n
    return centred / np.linalg.norm(centred, axis=1, keepdims=True)


# ---- hand-checkable geometry ---------------------------------------------------------------------


def test_identical_vectors_are_one_direction() -> None:
    same = np.tile([3.0, 4.0, 0.0], (5, 1))
    assert anisotropy(same) == pytest.approx(1.0)
    assert alignment(same, same) == 0.0
    assert uniformity(same) == pytest.approx(0.0)
    assert effective_rank(same) == pytest.approx(1.0)
    assert anisotropy_centered(same) == 0.0  # centring leaves zero vectors: 0, not NaN
    assert top_pc_variance_share(same) == {1: 0.0, 10: 0.0}


def test_orthonormal_basis_uses_every_direction() -> None:
    basis = np.eye(6)
    assert anisotropy(basis) == pytest.approx(0.0, abs=1e-12)
    assert effective_rank(basis) == pytest.approx(6.0)
    assert uniformity(basis, t=2.0) == pytest.approx(-4.0)  # every squared distance is 2
    # Centred, the basis spans 5 equal directions (the sixth is the removed mean).
    assert top_pc_variance_share(basis, k=(1, 5)) == pytest.approx({1: 0.2, 5: 1.0})


def test_antipodal_points() -> None:
    pair = np.array([[1.0, 0.0], [-2.0, 0.0]])
    assert anisotropy(pair) == pytest.approx(-1.0)
    assert uniformity(pair, t=2.0) == pytest.approx(-8.0)  # log exp(-2 * 4)
    assert alignment(pair[:1], pair[1:], alpha=2) == pytest.approx(4.0)
    assert alignment(pair[:1], pair[1:], alpha=1) == pytest.approx(2.0)


def test_simplex_is_as_spread_as_possible() -> None:
    assert anisotropy(simplex(5)) == pytest.approx(-0.25)
    assert effective_rank(simplex(5)) == pytest.approx(4.0)


def test_zero_vectors_give_numbers_not_nan() -> None:
    m = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    values = [anisotropy(m), anisotropy_centered(m), uniformity(m), effective_rank(m)]
    values += top_pc_variance_share(m).values()
    assert all(math.isfinite(v) for v in values)
    assert anisotropy(m) == 0.0  # zero rows score 0 against everything, as in cosine_similarity
    assert effective_rank(np.zeros((4, 3))) == 0.0


@pytest.mark.parametrize("bad", [np.ones((1, 3)), np.ones(3), np.ones((0, 3)), np.ones((3, 0))])
def test_fewer_than_two_embeddings_is_a_user_error(bad) -> None:
    for metric in (anisotropy, anisotropy_centered, uniformity, effective_rank, top_pc_variance_share):
        with pytest.raises(EmbedlabError, match="at least 2"):
            metric(bad)


def test_sampled_uniformity_is_close_to_exact() -> None:
    emb = np.random.default_rng(1).normal(size=(300, 8))
    exact = uniformity(emb)
    assert uniformity(emb, exact_limit=0, n_pairs=200_000, seed=3) == pytest.approx(exact, abs=0.02)


def test_exact_uniformity_matches_brute_force_across_blocks() -> None:
    emb = np.random.default_rng(2).normal(size=(700, 5))  # more rows than one 512-row block
    u = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    d2 = ((u[:, None] - u[None]) ** 2).sum(-1)[np.triu_indices(len(u), 1)]
    assert uniformity(emb, t=2.0) == pytest.approx(np.log(np.mean(np.exp(-2.0 * d2))))


def test_separation_and_overlap() -> None:
    low, high = np.linspace(-0.5, 0.0, 20), np.linspace(0.5, 0.9, 10)
    assert separation_auc(high, low) == 1.0
    assert separation_auc(low, high) == 0.0
    assert separation_auc(low, low) == 0.5
    assert distribution_overlap(high, low) == 0.0
    assert distribution_overlap(low, low) == pytest.approx(1.0)
    with pytest.raises(EmbedlabError):
        separation_auc([], low)


def test_cosine_stats() -> None:
    stats = cosine_stats(np.linspace(0.0, 1.0, 101))
    assert (stats.count, stats.mean) == (101, pytest.approx(0.5))
    assert stats.quantiles == pytest.approx({"q05": 0.05, "q25": 0.25, "q50": 0.5, "q75": 0.75, "q95": 0.95})


def test_granularity_ranks_only_close_pairs() -> None:
    gold = np.array([0.0, 1.0, 2.0, 3.6, 4.0, 4.5, 5.0])
    cosines = np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.3, 0.4])  # wrong far below 3.5, right above it
    assert granularity(cosines, gold) == pytest.approx(1.0)
    assert granularity(cosines, gold, min_score=-np.inf) < 0
    assert granularity(cosines, gold, min_score=4.5) is None  # two pairs cannot be ranked meaningfully
    assert granularity(np.ones(7), gold) is None


# ---- properties ----------------------------------------------------------------------------------


@given(MATRICES)
@settings(max_examples=60, deadline=None)
def test_anisotropy_is_the_mean_off_diagonal_cosine(m) -> None:
    n = len(m)
    cos = cosine_similarity(m, m).astype(np.float64)
    assert anisotropy(m) == pytest.approx(cos[~np.eye(n, dtype=bool)].mean(), abs=1e-5)
    for value in (anisotropy(m), anisotropy_centered(m)):
        assert -1.0 <= value <= 1.0
        assert value >= -1.0 / (n - 1) - 1e-9  # n unit vectors cannot all point apart


@given(MATRICES)
@settings(max_examples=60, deadline=None)
def test_rank_and_variance_bounds(m) -> None:
    rank = effective_rank(m)
    assert rank == 0.0 if not m.any() else 1.0 <= rank <= min(m.shape)
    shares = top_pc_variance_share(m, k=(1, 2, 10))
    assert 0.0 <= shares[1] <= shares[2] <= shares[10] <= 1.0 + 1e-9


@given(MATRICES, st.floats(0.1, 5.0))
@settings(max_examples=60, deadline=None)
def test_uniformity_and_alignment_bounds(m, t) -> None:
    # Squared distances between unit vectors lie in [0, 4] (zero rows: [0, 1]).
    assert -4.0 * t - 1e-9 <= uniformity(m, t=t) <= 0.0
    assert 0.0 <= alignment(m, m[::-1]) <= 4.0 + 1e-6


@given(st.lists(FLOATS, min_size=1, max_size=20), st.lists(FLOATS, min_size=1, max_size=20))
@settings(max_examples=60, deadline=None)
def test_auc_is_a_probability_and_antisymmetric(a, b) -> None:
    assert 0.0 <= separation_auc(a, b) <= 1.0
    assert separation_auc(a, b) + separation_auc(b, a) == pytest.approx(1.0)


@given(st.integers(2, 50), st.integers(1, 200), st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_sampled_pairs_are_distinct_rows(n, count, seed) -> None:
    i, j = sample_pairs(n, count, seed)
    assert len(i) == len(j) == count
    assert (i != j).all() and i.min() >= 0 and max(i.max(), j.max()) < n


# ---- input files and diagnose --------------------------------------------------------------------


STS_ROWS = [
    {"sentence1": "a cat sat", "sentence2": "the cat sat down", "score": 4.5},
    {"sentence1": "dogs bark", "sentence2": "a dog barks", "score": 4.0},
    {"sentence1": "rain falls", "sentence2": "stocks fell", "score": 0.5},
    {"sentence1": "a cat sat", "sentence2": "kids play", "score": 3.8},
    {"sentence1": "zebra", "sentence2": "quiz", "score": 1.0},
]


def test_read_every_input_format(tmp_path) -> None:
    write_jsonl(tmp_path / "sts.jsonl", STS_ROWS)
    sts = read_diagnose_input(tmp_path / "sts.jsonl")
    assert sts.left[0] == "a cat sat" and sts.right[1] == "a dog barks" and sts.scores[0] == 4.5 and sts.labels is None
    write_jsonl(tmp_path / "nli.jsonl.gz", [{"anchor": "x y", "positive": "x", "negative": "z"}] * 3)
    nli = read_diagnose_input(tmp_path / "nli.jsonl.gz", max_rows=2)
    assert (nli.left, nli.right, nli.scores) == (["x y", "x y"], ["x", "x"], None)
    write_jsonl(tmp_path / "mrpc.jsonl", [{"sentence1": "a", "sentence2": "b", "label": k} for k in (0, 1)])
    assert read_diagnose_input(tmp_path / "mrpc.jsonl").labels == [False, True]
    (tmp_path / "t.txt").write_text("first\n\n  \nsecond\n", encoding="utf-8")
    assert read_diagnose_input(tmp_path / "t.txt") == DiagnoseInput(["first", "second"])


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bad.jsonl", "{not json\n", "bad.jsonl:1 is not valid JSON"),
        ("fields.jsonl", '{"text": "a"}\n', "needs string fields"),
        (
            "partial.jsonl",
            '{"sentence1": "a", "sentence2": "b", "score": 1}\n{"sentence1": "a", "sentence2": "c"}\n',
            "'score' must be a number on every row",
        ),
        ("data.csv", "a,b\n", "reads .txt, .jsonl or .jsonl.gz"),
        ("fake.jsonl.gz", "not gzip", "cannot read"),
    ],
)
def test_bad_input_files_are_one_line_errors(tmp_path, name, content, message) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(EmbedlabError, match=message.replace(".", r"\.")):
        read_diagnose_input(tmp_path / name)
    with pytest.raises(EmbedlabError, match="no input file"):
        read_diagnose_input(tmp_path / "missing.jsonl")


def test_input_lists_must_pair_up() -> None:
    with pytest.raises(EmbedlabError, match="pair up"):
        DiagnoseInput(["a", "b"], ["c"])
    with pytest.raises(EmbedlabError, match="pair up"):
        DiagnoseInput(["a", "b"], ["c", "d"], scores=[1.0])
    with pytest.raises(EmbedlabError, match="pair up"):
        DiagnoseInput(["a", "b"], labels=[True, False])


def test_diagnose_scored_pairs(tmp_path) -> None:
    write_jsonl(tmp_path / "sts.jsonl", STS_ROWS)
    report = diagnose(LetterCounts(), tmp_path / "sts.jsonl", DiagnoseConfig(n_random_pairs=500))
    assert (report.model, report.n_texts, report.dim, report.n_pairs) == ("letters", 9, 26, 5)  # "a cat sat" once
    assert report.positive_pairs is not None and report.positive_pairs.count == 2  # scores >= 4
    assert report.n_granularity_pairs == 3 and report.granularity is not None and report.spearman is not None
    assert report.alignment is not None and 0.0 <= report.alignment <= 4.0
    assert 0.0 <= report.auc <= 1.0 and 0.0 <= report.overlap <= 1.0
    saved = json.loads(write_json(report.to_dict(), tmp_path / "r.json").read_text())
    assert "embeddings" not in saved and saved["config"]["positive_min_score"] == 4.0
    assert saved["top_pc_share"].keys() == {"1", "10"}


def test_diagnose_labels_pairs_and_texts(tmp_path) -> None:
    labelled = DiagnoseInput(["abc", "xyz", "abd"], ["abd", "abc", "xyz"], labels=[True, False, False])
    assert diagnose(LetterCounts(), labelled).positive_pairs.count == 1
    unscored = diagnose(LetterCounts(), [("abc", "abd"), ("xyz", "xyw")])
    assert unscored.positive_pairs.count == 2 and unscored.spearman is None  # without scores every pair is positive
    (tmp_path / "t.txt").write_text("abc\nxyz\nqrs\n", encoding="utf-8")
    texts = diagnose(LetterCounts(), tmp_path / "t.txt")
    assert texts.n_texts == 3 and texts.n_pairs == 0 and texts.alignment is None and texts.positive_cosines is None


def test_diagnose_needs_two_distinct_texts(tmp_path) -> None:
    with pytest.raises(EmbedlabError, match="at least 2 distinct texts"):
        diagnose(LetterCounts(), [("same", "same")])
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(EmbedlabError, match="at least 2 distinct texts"):
        diagnose(LetterCounts(), tmp_path / "empty.jsonl")


def test_diagnose_zero_vectors_gives_no_nan() -> None:
    report = diagnose(LetterCounts(), [("123", "456"), ("abc", "!!")])  # digits and punctuation encode to zero
    numbers = [v for v in report.to_dict().values() if isinstance(v, float)]
    assert numbers and all(math.isfinite(v) for v in numbers)


# ---- plots ---------------------------------------------------------------------------------------


def assert_pngs(paths, out_dir) -> None:
    assert sorted(p.name for p in paths) == ["cosine_histogram.png", "pca_scatter.png", "singular_values.png"]
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(p.name for p in paths)  # no partial files left


def test_save_plots_from_report_and_from_array(tmp_path) -> None:
    report = diagnose(LetterCounts(), [(a, b) for _, a, b in DEMO_PAIRS])
    assert_pngs(save_plots(report, tmp_path / "report"), tmp_path / "report")
    emb = np.random.default_rng(0).normal(size=(50, 8))
    assert_pngs(save_plots(emb, tmp_path / "array"), tmp_path / "array")


@pytest.mark.parametrize("emb", [np.zeros((5, 4)), np.ones((5, 4)), np.arange(6.0).reshape(6, 1) - 2.5])
def test_save_plots_survives_degenerate_spaces(tmp_path, emb) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a NaN from 0/0 would surface as a RuntimeWarning
        paths = save_plots(emb, tmp_path)
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in paths)


# ---- real models ---------------------------------------------------------------------------------


def test_random_bert_is_a_narrow_cone_and_minilm_is_not(minilm) -> None:
    pairs = [(a, b) for _, a, b in DEMO_PAIRS]
    trained, untrained = diagnose(minilm, pairs), diagnose(random_bert(), pairs)
    assert untrained.anisotropy > 0.8 and trained.anisotropy < 0.3
    assert untrained.uniformity > trained.uniformity  # the cone is far less uniform
    assert trained.effective_rank > untrained.effective_rank


def test_minilm_on_sts_b(minilm) -> None:
    report = diagnose(minilm, real_data("sts", "stsb", "test.jsonl"), DiagnoseConfig(max_rows=200))
    assert report.n_pairs == 200 and report.spearman > 0.7 and report.granularity is not None
    assert report.auc > 0.95 and report.anisotropy < 0.3
