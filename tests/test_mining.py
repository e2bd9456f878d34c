"""Hard-negative mining on hand-built rankings: each filter, the window, the count, seeds, sources and the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab.data.corpus import ChunkConfig, Document, chunk_document, token_spans
from embedlab.errors import EmbedlabError
from embedlab.mining import MiningConfig, MiningTask, load_mining_task, mine, write_triplets
from embedlab.mining.scoring import rank_of, ranked_rows
from tests.fakes import FakeEmbedder
from tests.files import write_jsonl
from tests.test_cli import run_cli

# Pool row -> cosine with the query. Row 2 is the positive (rank 3), row 0 another labelled positive.
SCORES = [0.90, 0.85, 0.80, 0.78, 0.70, 0.60, 0.50, 0.40]
POOL = [f"doc {i}" for i in range(len(SCORES))]


class AngleModel(FakeEmbedder):
    """Embeds the query as e0 and pool row i at angle arccos(SCORES[i]) from it, so cosines are SCORES."""

    name = "angles"
    dim = 2

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores

    def encode_queries(self, texts, task: str | None = None, batch_size: int = 32):
        return np.tile([1.0, 0.0], (len(texts), 1)).astype(np.float32)

    def encode_documents(self, texts, batch_size: int = 32):
        return np.array(
            [[self.scores.get(t, 0.0), math.sqrt(1 - self.scores.get(t, 0.0) ** 2)] for t in texts], np.float32
        )


def hand_built(known=frozenset({0, 2})) -> tuple[MiningTask, AngleModel]:
    task = MiningTask("hand", ["the query"], [2], POOL, [known])
    return task, AngleModel(dict(zip(POOL, SCORES)))


def negatives(config: MiningConfig, **changes) -> tuple[list[str], dict]:
    task, model = hand_built(**changes)
    result = mine(task, config, model)
    return (result.rows[0]["negatives"] if result.rows else []), result.report.filtered


def dense(**options) -> MiningConfig:
    return MiningConfig(**{"source": "dense", "window": (1, 8), "count": 2, "use_cache": False, **options})


def test_known_positives_rank_above_positive_and_margin_are_filtered():
    kept, filtered = negatives(dense())
    # Row 1 ranks above the positive; row 3 scores 0.78 > 0.95 x 0.80; rows 0 and 2 are labelled.
    assert kept == ["doc 4", "doc 5"]
    assert filtered == {"known_positive": 2, "above_positive": 1, "margin": 1}


def test_filters_switched_off_keep_the_hardest():
    kept, filtered = negatives(dense(margin=None, skip_above_positive=False))
    assert kept == ["doc 1", "doc 3"] and filtered == {"known_positive": 2}


def test_margin_is_relative_to_the_positive_score():
    kept, _ = negatives(dense(margin=0.8, skip_above_positive=False))  # 0.8 x 0.80 = 0.64: rows 1, 3, 4 go
    assert kept == ["doc 5", "doc 6"]


def test_the_window_picks_ranks():
    kept, filtered = negatives(dense(window=(6, 8)))
    assert kept == ["doc 5", "doc 6"] and filtered == {}


def test_count_and_dropping_anchors_short_of_it():
    kept, _ = negatives(dense(count=4))
    assert kept == ["doc 4", "doc 5", "doc 6", "doc 7"]
    task, model = hand_built()
    result = mine(task, dense(count=5), model)
    assert result.rows == [] and result.report.dropped == 1 and result.report.written == 0


def test_a_judge_rejects_what_it_calls_relevant():
    class Judge:
        def predict(self, pairs, batch_size=32):
            return np.array([0.9 if text == "doc 4" else 0.1 for _, text in pairs])

    task, model = hand_built()
    result = mine(task, dense(), model, judge=Judge())
    assert result.rows[0]["negatives"] == ["doc 5", "doc 6"] and result.report.filtered["judge"] == 1


def test_random_sampling_and_the_random_source_are_seeded():
    task, model = hand_built()
    for source in ("dense", "random"):
        config = dense(source=source, sampling="random", count=3)
        first, again = mine(task, config, model).rows, mine(task, config, model).rows
        assert first == again
        assert set(first[0]["negatives"]).isdisjoint({"doc 0", "doc 2"})
    other_seeds = {
        tuple(mine(task, dense(source="random", seed=s, count=3), model).rows[0]["negatives"]) for s in range(6)
    }
    assert len(other_seeds) > 1


def test_dense_needs_a_model():
    task, _ = hand_built()
    with pytest.raises(EmbedlabError, match="needs a model"):
        mine(task, dense(), None)


@pytest.mark.parametrize("options", [{"window": (0, 5)}, {"window": (5, 2)}, {"count": 0}, {"margin": -1.0},
                                     {"source": "nope"}, {"sampling": "best"}, {"passage_overlap": 64},
                                     {"pool": "corpus"}])
def test_bad_settings_are_one_line_errors(options):
    with pytest.raises(EmbedlabError):
        MiningConfig(**options)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=30), st.integers(1, 30))
def test_ranking_order_and_rank_agree_with_ties(raw, last):
    scores = np.asarray(raw, dtype=np.float32)
    expected = sorted(range(len(scores)), key=lambda r: (-scores[r], r))
    assert list(ranked_rows(scores, last)) == expected[:last]
    assert [rank_of(scores, r) for r in expected] == list(range(1, len(scores) + 1))


def test_same_document_negatives_are_non_overlapping_passages_of_the_positive():
    words = [f"w{i}" for i in range(40)]
    document = " ".join(words)
    # Passages are the index's word chunks; the one starting at word 18 is the one the model likes best.
    passages = chunk_document(Document("doc", document), token_spans(None), ChunkConfig(8, 2))
    liked = {p.text: 0.9 if p.text.startswith("w18 ") else 0.3 for p in passages}
    task = MiningTask("doc", ["q"], [0], [document, "other"], [frozenset({0})])
    result = mine(
        task, MiningConfig(source="same_document", count=2, passage_words=8, passage_overlap=2), AngleModel(liked)
    )
    row = result.rows[0]
    best = next(p for p in passages if p.text.startswith("w18 "))
    assert row["positive"] == best.text
    chosen = [p for p in passages if p.text in row["negatives"]]
    assert len(chosen) == 2 and not any(p.overlaps(best) for p in chosen)
    assert result.report.filtered["overlaps_positive"] == 2


@pytest.fixture
def tiny_beir(tmp_path):
    beir = tmp_path / "beir/tiny"
    docs = {
        "d1": "How to play the guitar: chords, strumming and practice for beginners.",
        "d2": "Guitar strings and guitar amplifiers for sale in the music shop.",
        "d3": "A simple recipe for onion soup with butter and thyme.",
        "d4": "Onion farming: planting onion seeds in spring.",
        "d5": "Stock markets fell sharply on Monday.",
        "d6": "The history of the electric guitar in rock music.",
    }
    write_jsonl(beir / "corpus.jsonl", [{"_id": k, "title": "", "text": v} for k, v in docs.items()])
    write_jsonl(
        beir / "queries.jsonl",
        [{"_id": "q1", "text": "learn to play guitar chords"}, {"_id": "q2", "text": "onion soup recipe"}],
    )
    (beir / "qrels").mkdir()
    (beir / "qrels/train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n")
    return beir


def test_bm25_negatives_on_a_beir_directory_train_directly(tiny_beir, tmp_path):
    from embedlab.data.training_sets import load_training_set

    task = load_mining_task(tiny_beir, "train")
    result = mine(task, MiningConfig(source="bm25", count=1, window=(1, 6), margin=None))
    by_anchor = {row["anchor"]: row for row in result.rows}
    assert by_anchor["learn to play guitar chords"]["negatives"][0].startswith(("Guitar strings", "The history"))
    assert by_anchor["onion soup recipe"]["negatives"] == ["Onion farming: planting onion seeds in spring."]
    path, report = write_triplets(result, tmp_path / "mined.jsonl")
    data = load_training_set(str(path))
    assert len(data) == 2 and "negatives" in data.columns
    assert json.loads(report.read_text())["written"] == 2


def test_the_positives_pool_offers_only_other_anchors_positives(tiny_beir):
    task = load_mining_task(tiny_beir, "train")
    everything = mine(task, MiningConfig(source="bm25", count=1, window=(1, 6), margin=None))
    among_positives = mine(task, MiningConfig(source="bm25", count=1, window=(1, 6), margin=None, pool="positives"))
    guitar, onion = task.pool[0], task.pool[2]  # d1 and d3, the only judged documents
    assert {row["negatives"][0] for row in everything.rows} != {guitar, onion}
    assert [(row["positive"], row["negatives"]) for row in among_positives.rows] == [
        (guitar, [onion]),
        (onion, [guitar]),
    ]
    assert among_positives.report.settings["pool"] == "positives"


def test_pair_files_mine_from_their_own_positives(tmp_path):
    rows = [{"anchor": f"question {i}", "positive": f"answer {i}"} for i in range(5)]
    task = load_mining_task(write_jsonl(tmp_path / "pairs.jsonl", rows))
    assert task.pool == [f"answer {i}" for i in range(5)]
    result = mine(task, MiningConfig(source="random", count=2, seed=1))
    assert all(f"answer {i}" not in row["negatives"] for i, row in enumerate(result.rows))


def test_cli_writes_triplets_and_report(tiny_beir, tmp_path):
    out = tmp_path / "out" / "mined.jsonl"
    done = run_cli("mine", "-d", str(tiny_beir), "-o", str(out), "--count", "1", "--window", "1", "6", "--no-margin")
    assert done.returncode == 0, done.stderr
    assert len(out.read_text().splitlines()) == 2 and (tmp_path / "out" / "mined.report.json").is_file()
    assert "written" in done.stdout
    pooled = run_cli("mine", "-d", str(tiny_beir), "-o", str(out), "--count", "1", "--window", "1", "6", "--no-margin",
                     "--pool", "positives", "--no-skip-above-positive")
    assert pooled.returncode == 0, pooled.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {row["negatives"][0] for row in rows} == {row["positive"] for row in rows}  # each other's positives


@pytest.mark.parametrize("args, message", [
    (["--window", "0", "5"], "rank window"),
    (["--source", "sparse"], "mining source"),
    (["-o", "mined.txt"], "must end in .jsonl"),
])
def test_cli_bad_input_is_one_line(tiny_beir, tmp_path, args, message):
    base = ["mine", "-d", str(tiny_beir), "-o", str(tmp_path / "m.jsonl")]
    done = run_cli(*base, *args)
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_cli_missing_data_is_one_line(tmp_path):
    done = run_cli("mine", "-d", str(tmp_path / "nowhere"), "-o", str(tmp_path / "m.jsonl"))
    assert done.returncode == 1 and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-99, 99), min_size=2, max_size=25, unique=True), st.data())
def test_every_kept_negative_passes_every_filter(hundredths, data):
    cosines = [h / 100 for h in hundredths]  # distinct by 0.01, so float rounding cannot reorder them
    n = len(cosines)
    positive = data.draw(st.integers(0, n - 1))
    known = frozenset(data.draw(st.sets(st.integers(0, n - 1), max_size=3)) | {positive})
    first = data.draw(st.integers(1, n))
    config = dense(window=(first, data.draw(st.integers(first, n))), count=data.draw(st.integers(1, 3)),
                   margin=data.draw(st.sampled_from([None, 0.5, 0.95])), skip_above_positive=data.draw(st.booleans()))
    pool = [f"doc {i}" for i in range(n)]
    task = MiningTask("random", ["q"], [positive], pool, [known])
    result = mine(task, config, AngleModel(dict(zip(pool, cosines))))
    scores = np.asarray(cosines, dtype=np.float32)
    for row in result.rows:
        assert len(row["negatives"]) == config.count == len(set(row["negatives"]))
        for text in row["negatives"]:
            r = pool.index(text)
            assert r not in known and config.window[0] <= rank_of(scores, r) <= config.window[1]
            assert not config.skip_above_positive or rank_of(scores, r) > rank_of(scores, positive)
            assert config.margin is None or scores[r] <= config.margin * scores[positive] + 1e-6
    assert result.report.written + result.report.dropped == 1


def test_progress_goes_to_stderr_as_log_lines_away_from_a_terminal(capsys):
    task = MiningTask("three", ["q1", "q2", "q3"], [2, 2, 2], POOL, [frozenset({2})] * 3)
    mine(task, MiningConfig(source="random", count=2, seed=0), show_progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith("mining: 3/3 (100%), ") and lines[-1].endswith(", done")
