"""Training data readers, self-supervised pairs and the no-duplicate mixture sampler."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab.data.batch_sampling import MixtureSampler, no_duplicate_batches
from embedlab.data.training_sets import (
    TrainingSet,
    inverse_cloze_pairs,
    load_training_set,
    read_nli,
    read_pairs,
    read_triplets,
    simcse_pairs,
)
from embedlab.errors import EmbedlabError
from tests.conftest import real_data
from tests.files import write_jsonl


def test_nli_rows_become_premise_entailment_contradiction_triplets(tmp_path):
    path = write_jsonl(
        tmp_path / "nli.jsonl",
        [
            {"premise": "A man sleeps.", "hypothesis": "A person rests.", "label": "entailment"},
            {"premise": "A man sleeps.", "hypothesis": "A man runs.", "label": "contradiction"},
            {"premise": "A man sleeps.", "hypothesis": "A man sleeps well.", "label": "neutral"},
            {"premise": "Dogs bark.", "hypothesis": "Animals make noise.", "label": "entailment"},  # no contradiction
        ],
    )
    triplets = read_nli(path)
    assert triplets.columns == {
        "anchor": ["A man sleeps."],
        "positive": ["A person rests."],
        "negatives": [["A man runs."]],
    }
    labelled = read_nli(path, as_triplets=False)
    assert labelled.columns["label"] == [0, 2, 1, 0]


def test_pairs_from_labelled_files_keep_positives_only(tmp_path):
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [{"sentence1": "a", "sentence2": "b", "label": 1}, {"sentence1": "c", "sentence2": "d", "label": 0}],
    )
    assert read_pairs(path).columns == {"anchor": ["a"], "positive": ["b"]}


def test_limit_keeps_the_first_rows_of_every_kind(tmp_path):
    pairs = write_jsonl(tmp_path / "p.jsonl", [{"anchor": f"a{i}", "positive": f"b{i}"} for i in range(5)])
    assert load_training_set(str(pairs), "pairs", limit=2).columns == {"anchor": ["a0", "a1"], "positive": ["b0", "b1"]}
    assert len(load_training_set(str(pairs), "pairs", limit=50)) == 5
    assert len(load_training_set(str(pairs), "simcse", limit=3)) == 3


def test_triplets_with_negative_lists_and_errors(tmp_path):
    good = write_jsonl(tmp_path / "t.jsonl", [{"anchor": "a", "positive": "b", "negatives": ["c", "d"]}])
    assert read_triplets(good).columns["negatives"] == [["c", "d"]]
    uneven = write_jsonl(
        tmp_path / "u.jsonl",
        [
            {"anchor": "a", "positive": "b", "negatives": ["c"]},
            {"anchor": "e", "positive": "f", "negatives": ["g", "h"]},
        ],
    )
    with pytest.raises(EmbedlabError, match="same number of negatives"):
        read_triplets(uneven)


def test_unknown_files_and_missing_data_fail_clearly(tmp_path):
    odd = write_jsonl(tmp_path / "odd.jsonl", [{"question": "?"}])
    with pytest.raises(EmbedlabError, match="cannot tell"):
        load_training_set(str(odd))
    with pytest.raises(EmbedlabError, match="no training data"):
        load_training_set(str(tmp_path / "missing.jsonl"))


def test_simcse_and_inverse_cloze():
    assert simcse_pairs(["x", "x", "y", " "]).columns == {"anchor": ["x", "y"], "positive": ["x", "y"]}
    ict = inverse_cloze_pairs(["One. Two. Three.", "Alone."], seed=1)
    assert len(ict) == 1
    query, context = ict.columns["anchor"][0], ict.columns["positive"][0]
    assert query in {"One.", "Two.", "Three."} and query not in context and len(context.split(". ")) == 2


texts = st.sampled_from([f"t{i}" for i in range(12)])


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(st.tuples(texts, texts), min_size=4, max_size=60), batch_size=st.integers(2, 6))
def test_no_text_twice_in_a_batch_and_no_row_twice(rows, batch_size):
    dataset = TrainingSet("h", {"anchor": [a for a, _ in rows], "positive": [p for _, p in rows]})
    batches = list(no_duplicate_batches(dataset, list(range(len(rows))), batch_size))
    used = [row for batch in batches for row in batch]
    assert len(used) == len(set(used))
    for batch in batches:
        assert len(batch) == batch_size
        batch_texts = [t for row in batch for t in set(dataset.texts(row))]
        assert len(batch_texts) == len(set(batch_texts))


def test_simcse_rows_repeat_their_own_text_and_still_form_batches():
    dataset = simcse_pairs([f"sentence {i}" for i in range(10)] + ["sentence 3"])
    batches = list(no_duplicate_batches(dataset, list(range(len(dataset))), 5))
    assert len(batches) == 2
    assert all(len({dataset.columns["anchor"][row] for row in batch}) == 5 for batch in batches)


def toy(name: str, n: int) -> TrainingSet:
    return TrainingSet(
        name, {"anchor": [f"{name} a{i}" for i in range(n)], "positive": [f"{name} p{i}" for i in range(n)]}
    )


def test_mixture_batches_come_from_one_dataset_in_proportion():
    sampler = MixtureSampler([toy("big", 300), toy("small", 100)], batch_size=10, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 40
    sources = [{text.split()[0] for text in b["anchor"]} for b in batches]
    assert all(len(s) == 1 for s in sources)
    assert sum(s == {"big"} for s in sources) == 30


def test_round_robin_alternates():
    sampler = MixtureSampler([toy("a", 30), toy("b", 20)], batch_size=10, mixture="round_robin")
    assert [b["anchor"][0].split()[0] for b in sampler] == ["a", "b", "a", "b", "a"]


def test_resume_continues_with_the_next_batch():
    full = MixtureSampler([toy("a", 50), toy("b", 40)], batch_size=10, seed=4)
    expected = [b["anchor"] for b in full] + [b["anchor"] for b in full]  # two epochs
    first = MixtureSampler([toy("a", 50), toy("b", 40)], batch_size=10, seed=4)
    stream = iter(first)
    seen = [next(stream)["anchor"] for _ in range(3)]
    resumed = MixtureSampler([toy("a", 50), toy("b", 40)], batch_size=10, seed=4)
    resumed.load_state_dict(first.state_dict())
    rest = [b["anchor"] for b in resumed] + [b["anchor"] for b in resumed]
    assert seen + rest[: len(expected) - 3] == expected


def test_dataset_smaller_than_a_batch_is_refused():
    with pytest.raises(EmbedlabError, match="smaller than one batch"):
        MixtureSampler([toy("tiny", 3)], batch_size=8)


def test_real_training_sets():
    assert len(load_training_set(str(real_data("nli", "train.jsonl.gz")))) == 5863
    assert len(load_training_set(str(real_data("pairs", "mrpc", "train.jsonl")), "pairs")) == 2753
    assert len(load_training_set(str(real_data("beir", "scifact")), "beir")) == 919


def test_unlabelled_texts_come_from_any_text_field(tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", [{"sentence1": "a", "sentence2": "b", "score": 1}, {"text": "c"}])
    assert load_training_set(str(path), "simcse").columns["anchor"] == ["a", "b", "c"]


def packed_all_at_once(dataset, order, batch_size):
    """The packing rule stated eagerly: defer clashing rows to the front of what is left, drop an unfillable rest."""
    batches, waiting = [], list(order)
    while len(waiting) >= batch_size:
        batch, seen, deferred = [], set(), []
        for position, row in enumerate(waiting):
            if seen.isdisjoint(dataset.texts(row)):
                batch.append(row)
                seen.update(dataset.texts(row))
                if len(batch) == batch_size:
                    deferred.extend(waiting[position + 1 :])
                    break
            else:
                deferred.append(row)
        if len(batch) < batch_size:
            break
        batches.append(batch)
        waiting = deferred
    return batches


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(st.tuples(texts, texts), min_size=4, max_size=60),
    batch_size=st.integers(2, 6),
    seed=st.integers(0, 9),
)
def test_batches_made_one_by_one_are_the_batches_packed_all_at_once(rows, batch_size, seed):
    dataset = TrainingSet("h", {"anchor": [a for a, _ in rows], "positive": [p for _, p in rows]})
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    assert list(no_duplicate_batches(dataset, order, batch_size)) == packed_all_at_once(dataset, order, batch_size)


def test_len_counts_the_batches_an_epoch_gives_even_with_clashes():
    dataset = TrainingSet(
        "clashy", {"anchor": [f"q{i % 7}" for i in range(100)], "positive": [f"p{i}" for i in range(100)]}
    )
    sampler = MixtureSampler([dataset, toy("other", 50)], batch_size=5, seed=2)
    assert len(sampler) == len(list(sampler)) < 30
