"""embedlab.lab, the playground's computations: they reuse the library's pooling and losses and leave no trace."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embedlab.errors import EmbedlabError
from embedlab.lab.contrastive import ProjectionConfig, train_projection
from embedlab.lab.rankings import matryoshka_dimensions, ranking
from embedlab.lab.tokens import raw_twin, token_views
from embedlab.models.encoder import Encoder

TEXT = "A man is playing the guitar."


@pytest.fixture(scope="module")
def minilm() -> Encoder:
    return Encoder.load("minilm")


def test_token_views_pool_as_the_encoder_does_and_restore_the_attention(minilm):
    view = token_views(minilm, [TEXT, "Short."])[0]
    assert len(view.tokens) == len(view.vectors) == len(minilm.tokenize([TEXT])["input_ids"][0])
    np.testing.assert_allclose(view.pooled["mean"], minilm.encode(TEXT, normalize=False), atol=1e-5)
    cls_attention = Encoder.load("minilm", pooling="cls_attention")
    np.testing.assert_allclose(view.pooled["cls_attention"], cls_attention.encode(TEXT, normalize=False), atol=1e-5)
    assert minilm.transformer.config._attn_implementation != "eager"  # the served model keeps its fast attention


def test_raw_twin_is_seeded_and_leaves_the_global_random_state_alone(minilm):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    first, second = raw_twin(minilm), raw_twin(minilm)
    assert torch.equal(torch.rand(3), expected)
    np.testing.assert_array_equal(first.encode(TEXT), second.encode(TEXT))
    assert not np.allclose(first.encode(TEXT), minilm.encode(TEXT), atol=0.1)


def test_matryoshka_sizes_run_from_the_full_size_down_to_32():
    assert matryoshka_dimensions(384) == [384, 256, 128, 64, 32]
    assert matryoshka_dimensions(512) == [512, 256, 128, 64, 32]
    assert matryoshka_dimensions(32) == [32] and matryoshka_dimensions(20) == [20]


def test_ranking_breaks_ties_by_position():
    order, scores = ranking(np.array([1.0, 0.0]), np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 0.0]]))
    assert order == [1, 2, 0] and scores == pytest.approx([0.0, 1.0, 1.0])


@pytest.mark.parametrize(
    "config, anchors, message",
    [
        (ProjectionConfig(batch_size=4), np.eye(3), "batch_size 4 is larger than the 3 pairs"),
        (ProjectionConfig(batch_size=2), np.eye(3)[:1], "at least 2 aligned pairs"),
    ],
)
def test_projection_refuses_what_it_cannot_train(config, anchors, message):
    with pytest.raises(EmbedlabError, match=message):
        train_projection(anchors, anchors, config)


def test_projection_config_needs_negatives():
    with pytest.raises(EmbedlabError, match="one pair has no negatives"):
        ProjectionConfig(batch_size=1)
