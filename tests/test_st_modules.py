"""Dense and LayerNorm modules after pooling, and the loader's one-line refusals of broken model directories.

sentence-transformers builds and saves every fixture here, and its vectors are the oracle.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from embedlab import Encoder, load_model
from embedlab.errors import ModelLoadError
from embedlab.models.dense import Dense, activation_from_name
from tests.tiny_models import tiny_bert

pytestmark = pytest.mark.filterwarnings("ignore:.*truncated")
TEXTS = ["", "a short one", "naïve café 東京 🙂", "a much longer sentence " * 30, "two words"]


def _st_model_dir(root, tokenizer, modules):
    """A tiny BERT with the given sentence-transformers modules after it, saved by sentence-transformers."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer

    bert_dir = root / "bert"
    tiny_bert(len(tokenizer), seed=3, pooler=False, initializer_range=0.5).save_pretrained(bert_dir)
    tokenizer.save_pretrained(bert_dir)
    transformer = Transformer(str(bert_dir), max_seq_length=24)
    model = SentenceTransformer(modules=[transformer, *modules], prompts={"query": "query: "})
    model.save(str(root / "st"))
    return root / "st", model


@pytest.fixture(scope="module")
def projected(tmp_path_factory, tokenizer):
    """Transformer, CLS pooling, Dense (tanh), LayerNorm, Dense (no bias, identity), Normalize."""
    from sentence_transformers.base.modules import Dense as StDense
    from sentence_transformers.base.modules import Normalize
    from sentence_transformers.sentence_transformer.modules import LayerNorm, Pooling

    torch.manual_seed(5)
    layer_norm = LayerNorm(16)
    torch.nn.init.normal_(layer_norm.norm.weight, std=0.5)
    torch.nn.init.normal_(layer_norm.norm.bias, std=0.5)
    modules = [
        Pooling(32, pooling_mode="cls"),
        StDense(32, 16),
        layer_norm,
        StDense(16, 8, bias=False, activation_function=torch.nn.Identity()),
        Normalize(),
    ]
    return _st_model_dir(tmp_path_factory.mktemp("projected"), tokenizer, modules)


def test_dense_and_layer_norm_match_sentence_transformers(projected):
    path, oracle = projected
    model = Encoder.load(path)
    assert model.dim == 8 and model.max_seq_length == 24
    for ours, theirs in [
        (model.encode(TEXTS), oracle.encode(TEXTS)),
        (model.encode_queries(TEXTS), oracle.encode(TEXTS, prompt_name="query")),
    ]:
        assert np.abs(ours - theirs).max() <= 1e-5


def test_saved_projection_loads_in_sentence_transformers(projected, tmp_path):
    from sentence_transformers import SentenceTransformer

    path, oracle = projected
    saved = Encoder.load(path).save(tmp_path / "again")
    assert [m["path"] for m in json.loads((saved / "modules.json").read_text())] == [
        "", "1_Pooling", "2_Dense", "3_LayerNorm", "4_Dense", "5_Normalize"
    ]
    assert np.abs(SentenceTransformer(str(saved)).encode(TEXTS) - oracle.encode(TEXTS)).max() <= 1e-5
    assert np.abs(Encoder.load(saved).encode(TEXTS) - oracle.encode(TEXTS)).max() <= 1e-5


def _broken_copy(projected, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(projected[0], broken)
    return broken


def _edit_json(path, change):
    content = json.loads(path.read_text())
    change(content)
    path.write_text(json.dumps(content))


def test_modules_in_the_wrong_order_are_refused(projected, tmp_path):
    broken = _broken_copy(projected, tmp_path)
    _edit_json(broken / "modules.json", lambda modules: modules.insert(1, modules.pop(5)))
    with pytest.raises(ModelLoadError, match="puts normalize after transformer"):
        Encoder.load(broken)


def test_dense_of_the_wrong_width_is_refused(projected, tmp_path):
    broken = _broken_copy(projected, tmp_path)
    _edit_json(broken / "4_Dense" / "config.json", lambda config: config.update(in_features=12))
    with pytest.raises(ModelLoadError, match="4_Dense takes 12-dim vectors but the module before it gives 16"):
        Encoder.load(broken)


def test_dense_weights_that_do_not_fit_are_refused(projected, tmp_path):
    broken = _broken_copy(projected, tmp_path)
    weights = broken / "2_Dense" / "model.safetensors"
    save_file({"linear.weight": torch.zeros(3, 3), "linear.bias": torch.zeros(3)}, str(weights))
    with pytest.raises(ModelLoadError, match="do not fit its config"):
        Encoder.load(broken)
    weights.write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match="could not read"):
        Encoder.load(broken)


def test_activation_outside_torch_nn_is_never_imported(projected, tmp_path):
    broken = _broken_copy(projected, tmp_path)
    _edit_json(broken / "2_Dense" / "config.json", lambda config: config.update(activation_function="os.system"))
    with pytest.raises(ModelLoadError, match="builds only torch.nn modules"):
        Encoder.load(broken)
    assert isinstance(activation_from_name("torch.nn.modules.activation.GELU", tmp_path), torch.nn.GELU)
    with pytest.raises(ModelLoadError):
        activation_from_name("torch.nn.functional.gelu", tmp_path)


def test_missing_tokenizer_is_refused(projected, tmp_path):
    broken = _broken_copy(projected, tmp_path)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        (broken / name).unlink(missing_ok=True)
    with pytest.raises(ModelLoadError, match="has no tokenizer"):
        load_model(broken)


def test_tokenizer_larger_than_the_embedding_table_is_refused(projected, tmp_path):
    broken = _broken_copy(projected, tmp_path)
    small = tiny_bert(100, seed=3, pooler=False)
    small.save_pretrained(broken)
    with pytest.raises(ModelLoadError, match="tokenizer .* has 30522 tokens but the model's embedding table only 100"):
        Encoder.load(broken)


def test_weights_that_do_not_fit_the_config_are_refused(projected, tmp_path):
    broken = _broken_copy(projected, tmp_path)
    _edit_json(broken / "config.json", lambda config: config.update(intermediate_size=80))
    with pytest.raises(ModelLoadError, match="could not load the transformer"):
        Encoder.load(broken)
    _edit_json(broken / "config.json", lambda config: config.update(intermediate_size=64, num_hidden_layers=3))
    with pytest.raises(ModelLoadError, match="do not fit its config: missing encoder.layer.2"):
        Encoder.load(broken)


def test_config_that_needs_remote_code_is_refused_without_running_it(projected, tmp_path):
    broken = _broken_copy(projected, tmp_path)
    (broken / "modeling_evil.py").write_text("raise SystemExit('remote code ran')\n")
    _edit_json(broken / "config.json", lambda config: config.update(
        model_type="evil_bert", auto_map={"AutoModel": "modeling_evil.EvilModel"}
    ))
    with pytest.raises(ModelLoadError, match="needs trust_remote_code"):
        Encoder.load(broken)


def test_dense_module_round_trips_its_config():
    dense = Dense(4, 2, bias=False, activation=torch.nn.ReLU())
    assert dense.config() == {
        "in_features": 4, "out_features": 2, "bias": False, "activation_function": "torch.nn.modules.activation.ReLU"
    }
