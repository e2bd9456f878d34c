"""Columnar training data: Parquet, Arrow IPC, CSV and `datasets` folders read lazily, batch for batch like JSONL."""

from __future__ import annotations

import itertools
import uuid

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyarrow import feather

from embedlab.data.arrow_sets import ArrowTrainingSet
from embedlab.data.batch_sampling import MixtureSampler, no_duplicate_batches
from embedlab.data.training_sets import TrainingSet, load_training_set
from embedlab.errors import EmbedlabError
from embedlab.training.build import train
from embedlab.training.config import TrainConfig
from tests.files import write_jsonl
from tests.test_trainer import pair_data
from tests.tiny_models import make_tiny_encoder as tiny_encoder

# A few repeated texts, so that the no-duplicate packing has clashes to defer.
ROWS = [{"anchor": f"question {i % 17}", "positive": f"answer {i}", "id": i} for i in range(60)]


@pytest.fixture(autouse=True)
def arrow_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDLAB_ARROW_CACHE", str(tmp_path / "arrow-cache"))
    return tmp_path / "arrow-cache"


def table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows)


def save_to_disk(rows: list[dict], path, as_dict: bool = False):
    datasets = pytest.importorskip("datasets")
    dataset = datasets.Dataset.from_list(rows)
    (datasets.DatasetDict({"train": dataset}) if as_dict else dataset).save_to_disk(str(path))
    return path


WRITERS = {
    "parquet": lambda rows, d: pq.write_table(table(rows), d / "set.parquet", row_group_size=16) or d / "set.parquet",
    "feather (lz4)": lambda rows, d: feather.write_feather(table(rows), d / "set.feather") or d / "set.feather",
    "arrow stream": lambda rows, d: _ipc_stream(table(rows), d / "set.arrow"),
    "csv": lambda rows, d: pa_csv.write_csv(table(rows), d / "set.csv") or d / "set.csv",
    "parquet shards": lambda rows, d: _shards(rows, d / "shards"),
    "save_to_disk": lambda rows, d: save_to_disk(rows, d / "saved"),
    "save_to_disk DatasetDict": lambda rows, d: save_to_disk(rows, d / "saved_dict", as_dict=True),
}


def _ipc_stream(data: pa.Table, path):
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, data.schema) as writer:
        writer.write_table(data, max_chunksize=7)
    return path


def _shards(rows: list[dict], directory):
    directory.mkdir()
    pq.write_table(table(rows[:25]), directory / "train-00000-of-00002.parquet")
    pq.write_table(table(rows[25:]), directory / "train-00001-of-00002.parquet")
    return directory


@pytest.mark.parametrize("layout", WRITERS)
def test_every_format_batches_exactly_like_jsonl(tmp_path, layout):
    expected = load_training_set(str(write_jsonl(tmp_path / "jsonl" / "set.jsonl", ROWS)), "pairs")
    columnar = load_training_set(str(WRITERS[layout](ROWS, tmp_path)))
    assert isinstance(expected, TrainingSet) and isinstance(columnar, ArrowTrainingSet)
    assert len(columnar) == len(expected) == 60
    assert [columnar.texts(r) for r in range(60)] == [expected.texts(r) for r in range(60)]
    assert (
        columnar.batch([5, 0, 59])
        == expected.batch([5, 0, 59])
        == {"anchor": ["question 5", "question 0", "question 8"], "positive": ["answer 5", "answer 0", "answer 59"]}
    )

    def two_epochs(dataset):
        sampler = MixtureSampler([dataset], batch_size=8, seed=3)
        return len(sampler), [b for b in sampler] + [b for b in sampler]

    assert two_epochs(columnar) == two_epochs(expected)


def test_triplets_and_scored_rows_match_their_jsonl_batches(tmp_path):
    triplets = [{"anchor": f"a{i}", "positive": f"p{i}", "negatives": [f"n{i}", f"m{i}"]} for i in range(5)]
    pq.write_table(table(triplets), tmp_path / "t.parquet")
    jsonl = load_training_set(str(write_jsonl(tmp_path / "t.jsonl", triplets)))
    assert load_training_set(str(tmp_path / "t.parquet")).batch([4, 1]) == jsonl.batch([4, 1])
    assert load_training_set(str(tmp_path / "t.parquet")).texts(2) == ["a2", "p2", "n2", "m2"]

    single = [{"anchor": f"a{i}", "positive": f"p{i}", "negative": f"n{i}"} for i in range(5)]
    pq.write_table(table(single), tmp_path / "s.parquet")
    assert load_training_set(str(tmp_path / "s.parquet")).batch([3]) == {
        "anchor": ["a3"],
        "positive": ["p3"],
        "negatives": [["n3"]],
    }

    scored = [{"sentence1": f"x{i}", "sentence2": f"y{i}", "score": i} for i in range(5)]  # integer scores
    pq.write_table(table(scored), tmp_path / "c.parquet")
    batch = load_training_set(str(tmp_path / "c.parquet")).batch([2, 4])
    assert batch == load_training_set(str(write_jsonl(tmp_path / "c.jsonl", scored))).batch([2, 4])
    assert batch["score"] == [2.0, 4.0] and all(isinstance(s, float) for s in batch["score"])


def test_limit_maps_only_the_first_rows(tmp_path):
    path = WRITERS["parquet"](ROWS, tmp_path)
    head = load_training_set(str(path), limit=10)
    assert len(head) == 10 and head.texts(9) == ["question 9", "answer 9"]
    assert len(load_training_set(str(path), limit=500)) == 60


def test_parquet_is_converted_once_and_again_when_it_changes(tmp_path, arrow_cache):
    path = WRITERS["parquet"](ROWS, tmp_path)
    load_training_set(str(path))
    (converted,) = arrow_cache.iterdir()
    stamp = converted.stat().st_mtime_ns
    load_training_set(str(path))
    assert converted.stat().st_mtime_ns == stamp
    pq.write_table(table(ROWS[:30]), path)
    assert len(load_training_set(str(path))) == 30


def test_an_uncompressed_saved_dataset_is_mapped_in_place(tmp_path, arrow_cache):
    dataset = load_training_set(str(save_to_disk(ROWS, tmp_path / "saved")))
    assert len(dataset) == 60 and not arrow_cache.exists()


def test_rows_are_read_only_when_a_batch_needs_them():
    class Counting:
        name, reads = "counting", 0

        def __len__(self):
            return 10_000

        def texts(self, row):
            self.reads += 1
            return [f"a{row}", f"p{row}"]

    dataset = Counting()
    batches = no_duplicate_batches(dataset, range(10_000), 64)
    first_two = list(itertools.islice(batches, 2))
    assert [len(b) for b in first_two] == [64, 64] and dataset.reads == 128


def _bad(tmp_path, name: str, rows: list[dict]):
    pq.write_table(
        pa.Table.from_pylist(rows) if rows else pa.table({"anchor": pa.array([], pa.string())}), tmp_path / name
    )
    return tmp_path / name


@pytest.mark.parametrize(
    ("rows", "kind", "message"),
    [
        ([{"anchor": "a", "text": "b"}], "pairs", r"no column positive \(its columns: anchor, text\)"),
        ([{"anchor": 1, "positive": "b"}], "pairs", "column anchor must hold strings, not int64"),
        (
            [{"anchor": "a", "positive": None}, {"anchor": "c", "positive": "d"}],
            "pairs",
            "column positive has 1 missing value",
        ),
        ([{"sentence1": "a", "sentence2": "b", "score": "high"}], "scored", "column score must hold numbers"),
        ([{"sentence1": "a", "sentence2": "b", "score": float("nan")}], "scored", "NaN or infinite"),
        (
            [
                {"anchor": "a", "positive": "b", "negatives": ["c"]},
                {"anchor": "d", "positive": "e", "negatives": ["f", "g"]},
            ],
            "triplets",
            "same number of negatives",
        ),
        ([{"anchor": "a", "positive": "b"}], "nli", "hold pairs, triplets or scored rows, not nli"),
        ([{"question": "a"}], "auto", "cannot tell what kind"),
        ([], "pairs", "holds no rows"),
    ],
)
def test_bad_columns_are_one_line_errors_naming_the_file(tmp_path, rows, kind, message):
    path = _bad(tmp_path, "bad.parquet", rows)
    with pytest.raises(EmbedlabError, match=message) as caught:
        load_training_set(str(path), kind)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("name", ["broken.parquet", "broken.arrow", "broken.feather", "empty.parquet", "empty.arrow"])
def test_corrupt_and_empty_files_are_one_line_errors(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"" if name.startswith("empty") else b"PAR1 this is not really a columnar file")
    with pytest.raises(EmbedlabError, match="is not a readable") as caught:
        load_training_set(str(path), "pairs")
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_dataset_dict_without_train_names_its_splits(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.DatasetDict({"test": datasets.Dataset.from_list(ROWS)}).save_to_disk(str(tmp_path / "d"))
    with pytest.raises(EmbedlabError, match="holds the splits test but no train"):
        load_training_set(str(tmp_path / "d"))


texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(st.tuples(texts, texts), min_size=1, max_size=40), data=st.data())
def test_any_rows_read_back_equal_what_was_written(tmp_path, pairs, data):
    path = tmp_path / f"{uuid.uuid4().hex}.parquet"
    pq.write_table(
        pa.table({"anchor": [a for a, _ in pairs], "positive": [p for _, p in pairs]}), path, row_group_size=5
    )
    rows = data.draw(st.lists(st.integers(0, len(pairs) - 1), max_size=20))
    dataset = load_training_set(str(path), "pairs")
    assert dataset.batch(rows) == {"anchor": [pairs[r][0] for r in rows], "positive": [pairs[r][1] for r in rows]}
    assert all(dataset.texts(r) == list(pairs[r]) for r in rows)


def test_training_on_parquet_gives_the_losses_of_training_on_jsonl(tmp_path, minilm):
    columns = pair_data().columns
    rows = [{"anchor": a, "positive": p} for a, p in zip(columns["anchor"], columns["positive"])]
    pq.write_table(table(rows), tmp_path / "pairs.parquet")
    losses = {}
    for path in (write_jsonl(tmp_path / "pairs.jsonl", rows), tmp_path / "pairs.parquet"):
        config = {
            "data": [{"path": str(path)}],
            "output_dir": str(tmp_path / path.suffix),
            "max_steps": 4,
            "batch_size": 8,
            "eval_data": None,
        }
        losses[path.suffix] = train(TrainConfig(**config), model=tiny_encoder(minilm.tokenizer)).losses
    assert len(losses[".parquet"]) == 4 and losses[".parquet"] == losses[".jsonl"]
