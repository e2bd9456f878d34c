"""Each pooling strategy checked by hand on a 4-token table, and padding never changing a result."""

from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from embedlab.errors import ModelLoadError
from embedlab.models.pooling import STRATEGIES, Pooling

# "The quick brown fox": 4 tokens, 4 dims; column means 0.55 / 0.525 / 0.575 / 0.50.
FOX = torch.tensor(
    [
        [0.2, 0.1, 0.4, 0.3],  # The   (position 0, the [CLS] slot)
        [0.9, 0.3, 0.5, 0.2],  # quick
        [0.4, 0.8, 0.6, 0.6],  # brown
        [0.7, 0.9, 0.8, 0.9],  # fox
    ]
).unsqueeze(0)
MASK = torch.ones(1, 4, dtype=torch.long)
CLS_ATTENTION = torch.tensor([[0.4, 0.1, 0.2, 0.3]])  # [CLS]'s own 0.4 must be ignored


def pool(strategy: str, tokens=FOX, mask=MASK, cls_attention=CLS_ATTENTION, query=None) -> torch.Tensor:
    pooling = Pooling(strategy, tokens.shape[-1])
    if query is not None and pooling.query is not None:
        pooling.query.data.copy_(query)
    return pooling(tokens, mask, cls_attention)


def test_mean_is_the_column_average():
    assert torch.allclose(pool("mean"), torch.tensor([[0.55, 0.525, 0.575, 0.50]]))


def test_cls_is_the_first_row():
    assert torch.equal(pool("cls"), FOX[:, 0])


def test_max_is_the_column_maximum():
    assert torch.allclose(pool("max"), torch.tensor([[0.9, 0.9, 0.8, 0.9]]))


def test_weighted_mean_weights_positions_1_to_4():
    # (1*row0 + 2*row1 + 3*row2 + 4*row3) / 10
    assert torch.allclose(pool("weighted_mean"), torch.tensor([[0.60, 0.67, 0.64, 0.61]]))


def test_last_token_is_the_last_row():
    assert torch.equal(pool("last_token"), FOX[:, 3])


def test_cls_attention_weights_by_cls_attention_without_cls():
    # weights 0.1, 0.2, 0.3 over quick, brown, fox, renormalised by 0.6
    expected = (0.1 * FOX[0, 1] + 0.2 * FOX[0, 2] + 0.3 * FOX[0, 3]) / 0.6
    assert torch.allclose(pool("cls_attention"), expected.unsqueeze(0))


def test_attention_with_zero_query_is_mean():
    assert torch.allclose(pool("attention"), pool("mean"))


def test_attention_softmaxes_scaled_scores():
    query = torch.tensor([2.0, 0.0, 0.0, 0.0])
    scores = [row[0] * 2.0 / math.sqrt(4) for row in FOX[0].tolist()]  # = first column
    weights = [math.exp(s) for s in scores]
    expected = sum(w * FOX[0, i] for i, w in enumerate(weights)) / sum(weights)
    assert torch.allclose(pool("attention", query=query), expected.unsqueeze(0))


def test_attention_query_is_trainable():
    pooling = Pooling("attention", 4)
    pooling(FOX, MASK).sum().backward()
    assert pooling.query.grad is not None and pooling.query.grad.abs().sum() > 0


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_right_padding_changes_nothing(strategy):
    garbage = torch.full((1, 3, 4), 99.0)
    tokens = torch.cat([FOX, garbage], dim=1)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0]])
    attention = torch.cat([CLS_ATTENTION, torch.full((1, 3), 5.0)], dim=1)
    query = torch.tensor([0.5, -1.0, 0.25, 2.0])
    assert torch.allclose(
        pool(strategy, tokens, mask, attention, query), pool(strategy, query=query), atol=1e-6
    )


@pytest.mark.parametrize("strategy", ["mean", "max", "weighted_mean", "last_token", "attention"])
def test_left_padding_changes_nothing(strategy):
    tokens = torch.cat([torch.full((1, 2, 4), -7.0), FOX], dim=1)
    mask = torch.tensor([[0, 0, 1, 1, 1, 1]])
    assert torch.allclose(pool(strategy, tokens, mask), pool(strategy), atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    strategy=st.sampled_from(STRATEGIES),
    lengths=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=5),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_batched_with_padding_equals_alone(strategy, lengths, seed):
    generator = torch.Generator().manual_seed(seed)
    width, dim = max(lengths), 6
    tokens = torch.randn(len(lengths), width, dim, generator=generator)
    attention = torch.rand(len(lengths), width, generator=generator)
    mask = torch.tensor([[1] * n + [0] * (width - n) for n in lengths])
    pooling = Pooling(strategy, dim)
    if pooling.query is not None:
        pooling.query.data.normal_(generator=generator)
    batched = pooling(tokens, mask, attention)
    for row, n in enumerate(lengths):
        alone = pooling(tokens[row : row + 1, :n], mask[row : row + 1, :n], attention[row : row + 1, :n])
        assert torch.allclose(batched[row], alone[0], atol=1e-5)
    assert torch.isfinite(batched).all()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_save_load_roundtrip(tmp_path, strategy):
    pooling = Pooling(strategy, 4, include_prompt=False)
    if pooling.query is not None:
        pooling.query.data.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    pooling.save(tmp_path)
    loaded = Pooling.load(tmp_path)
    assert (loaded.strategy, loaded.dim, loaded.include_prompt) == (strategy, 4, False)
    assert torch.allclose(loaded(FOX, MASK, CLS_ATTENTION), pooling(FOX, MASK, CLS_ATTENTION))


def test_saved_config_uses_sentence_transformers_flags(tmp_path):
    Pooling("weighted_mean", 4).save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["pooling_mode_weightedmean_tokens"] is True
    assert config["pooling_mode_mean_tokens"] is False
    assert config["word_embedding_dimension"] == 4


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"word_embedding_dimension": 8, "pooling_mode_cls_token": True}, "cls"),
        ({"word_embedding_dimension": 8, "pooling_mode_lasttoken": True}, "last_token"),
        ({"embedding_dimension": 8, "pooling_mode": "weightedmean"}, "weighted_mean"),
        ({"word_embedding_dimension": 8, "pooling_mode_mean_sqrt_len_tokens": True}, "mean_sqrt_len"),
        ({"embedding_dimension": 8, "pooling_mode": "mean_sqrt_len_tokens"}, "mean_sqrt_len"),
        ({"embedding_dimension": 8, "pooling_mode": ["max"]}, "max"),
    ],
)
def test_reads_sentence_transformers_configs(tmp_path, config, expected):
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert Pooling.load(tmp_path).strategy == expected


@pytest.mark.parametrize(
    "config",
    [
        {"word_embedding_dimension": 8, "pooling_mode_cls_token": True, "pooling_mode_max_tokens": True},
        {"word_embedding_dimension": 8},
        {"pooling_mode": "mean"},
    ],
)
def test_unsupported_configs_fail_clearly(tmp_path, config):
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError):
        Pooling.load(tmp_path)


def test_malformed_config_fails_clearly(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="malformed JSON"):
        Pooling.load(tmp_path)


def test_unknown_strategy_is_refused():
    with pytest.raises(ModelLoadError, match="unknown pooling"):
        Pooling("median", 4)


ST_MODES = {"cls": "cls", "mean": "mean", "max": "max", "mean_sqrt_len": "mean_sqrt_len_tokens",
            "weighted_mean": "weightedmean", "last_token": "lasttoken"}


@settings(max_examples=40)
@given(
    strategy=st.sampled_from(sorted(ST_MODES)),
    lengths=st.lists(st.integers(1, 7), min_size=1, max_size=4),
    prompt_length=st.integers(0, 3),
    include_prompt=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_every_mode_equals_sentence_transformers_pooling(strategy, lengths, prompt_length, include_prompt, seed):
    """sentence-transformers' own Pooling module is the oracle, prompt exclusion included (right padding)."""
    from sentence_transformers.sentence_transformer.modules import Pooling as StPooling

    torch.manual_seed(seed)
    width = max(lengths)
    tokens = torch.randn(len(lengths), width, 6)
    mask = torch.tensor([[1] * n + [0] * (width - n) for n in lengths])
    features = {"token_embeddings": tokens, "attention_mask": mask}
    if prompt_length:
        features["prompt_length"] = prompt_length
    oracle = StPooling(6, pooling_mode=ST_MODES[strategy], include_prompt=include_prompt)(features)
    ours = Pooling(strategy, 6, include_prompt=include_prompt)(tokens, mask, prompt_length=prompt_length)
    expected = oracle["sentence_embedding"]
    finite = torch.isfinite(expected)  # max pooling over no token gives -inf there, a huge negative here
    assert torch.allclose(ours[finite], expected[finite], atol=1e-6)
