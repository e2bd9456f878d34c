"""oneDNN fused linear layers: the same outputs as the unfused bf16 model, for each activation BERT kin use."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import BertModel

from embedlab.backends.fused_linear import FusedLinear, FusedResidualOutput, fuse_linear_layers, onednn_available
from embedlab.backends.torch_backend import TorchHalfBackend
from tests.backends.conftest import running_on
from tests.tiny_models import tiny_bert

pytestmark = pytest.mark.skipif(not onednn_available(), reason="no oneDNN fused bf16 linear ops on this build and CPU")


def bf16_bert(hidden_act: str) -> BertModel:
    # Large initial weights, so every sublayer moves the output.
    model = tiny_bert(50, pooler=False, num_attention_heads=4, hidden_act=hidden_act, initializer_range=0.3)
    return model.to(torch.bfloat16).eval()


@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_new", "relu", "silu"])
def test_fused_layers_compute_what_the_unfused_ones_do(hidden_act) -> None:
    model = bf16_bert(hidden_act)
    fused = copy.deepcopy(model)
    swapped = fuse_linear_layers(fused)
    # Per layer: query, key, value, the two residual blocks, and the feed-forward expansion.
    assert swapped == 2 * 6
    layer = fused.encoder.layer[0]
    assert isinstance(layer.attention.output, FusedResidualOutput) and isinstance(layer.output, FusedResidualOutput)
    assert isinstance(layer.attention.self.query, FusedLinear)
    # silu has no oneDNN fusion here: only the bias is fused and the model's own activation still runs.
    intermediate = layer.intermediate
    assert isinstance(intermediate, FusedLinear) != (hidden_act == "silu")
    ids = torch.randint(0, 50, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    with torch.inference_mode():
        expected = model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
        got = fused(input_ids=ids, attention_mask=mask).last_hidden_state.float()
    assert torch.nn.functional.cosine_similarity(got, expected, dim=-1).min() > 0.999


def test_a_wrong_activation_would_be_caught() -> None:
    # The check above can fail: fusing relu where the model computes gelu changes the output.
    model = bf16_bert("gelu")
    fused = copy.deepcopy(model)
    fused.config.hidden_act = "relu"
    fuse_linear_layers(fused)
    ids = torch.randint(0, 50, (2, 7))
    with torch.inference_mode():
        got, expected = fused(input_ids=ids).last_hidden_state, model(input_ids=ids).last_hidden_state
    assert torch.nn.functional.cosine_similarity(got.float(), expected.float(), dim=-1).min() < 0.999


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 5), length=st.integers(1, 40))
def test_fused_minilm_layer_matches_for_any_batch_shape(minilm_bf16_pair, batch, length) -> None:
    plain, fused = minilm_bf16_pair
    x = torch.randn(batch, length, 384, generator=torch.Generator().manual_seed(batch * 100 + length)).bfloat16()
    with torch.inference_mode():
        expected = plain.encoder.layer[0](x)[0].float()
        got = fused.encoder.layer[0](x)[0].float()
    assert torch.nn.functional.cosine_similarity(got, expected, dim=-1).min() > 0.999


@pytest.fixture(scope="module")
def minilm_bf16_pair(minilm) -> tuple[torch.nn.Module, torch.nn.Module]:
    plain = copy.deepcopy(minilm.transformer).to(torch.bfloat16).eval()
    fused = copy.deepcopy(plain)
    assert fuse_linear_layers(fused) > 0
    return plain, fused


def test_bf16_backend_runs_fused_layers_and_stays_close_to_fp32(minilm) -> None:
    backend = TorchHalfBackend()
    copy_ = backend.torch_model(minilm.model).transformer
    assert isinstance(copy_.encoder.layer[0].output, FusedResidualOutput)
    assert all(not isinstance(m, torch.nn.Linear) for m in copy_.modules())
    fp32 = minilm.encode(["Two dogs run in snow.", "a long sentence about music " * 5])
    with running_on(minilm, backend):
        bf16 = minilm.encode(["Two dogs run in snow.", "a long sentence about music " * 5])
    assert np.sum(bf16 * fp32, axis=1).min() > 0.999
