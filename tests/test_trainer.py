"""The training loop on a tiny random BERT: learning happens, resume is exact, configs fail clearly."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from embedlab import EmbedlabError, Encoder
from embedlab.data.batch_sampling import MixtureSampler
from embedlab.data.training_sets import TrainingSet
from embedlab.losses import InfoNCELoss
from embedlab.training.build import build_loss, train
from embedlab.training.config import LossSpec, TrainConfig, load_config
from embedlab.training.trainer import Trainer, linear_schedule
from tests.tiny_models import make_tiny_encoder

WORDS = [
    "cat",
    "dog",
    "bird",
    "fish",
    "tree",
    "rock",
    "sun",
    "moon",
    "car",
    "bus",
    "road",
    "city",
    "sea",
    "lake",
    "hill",
    "snow",
    "rain",
    "wind",
    "fire",
    "ice",
]


def pair_data(n: int = 40) -> TrainingSet:
    anchors = [f"the {WORDS[i % 20]} and the {WORDS[(i * 7 + 3) % 20]} number {i}" for i in range(n)]
    return TrainingSet("toy", {"anchor": anchors, "positive": [a.upper() for a in anchors]})


def make_trainer(tokenizer, tmp_path: Path, max_steps: int = 6, checkpoint_every: int = 100) -> Trainer:
    config = TrainConfig(data=[], output_dir=str(tmp_path), max_steps=max_steps, batch_size=8, learning_rate=1e-3,
                         checkpoint_every=checkpoint_every, eval_every=1000, seed=3)
    torch.manual_seed(config.seed)
    model = make_tiny_encoder(tokenizer)
    batches = MixtureSampler([pair_data()], config.batch_size, seed=config.seed)
    return Trainer(config, model, InfoNCELoss(temperature=0.1), batches)


def test_warmup_then_linear_decay():
    factor = linear_schedule(warmup_steps=2, total_steps=6)
    assert [round(factor(s), 3) for s in range(6)] == [0.5, 1.0, 1.0, 0.75, 0.5, 0.25]


def test_training_lowers_the_loss_and_writes_models(tokenizer, tmp_path):
    trainer = make_trainer(tokenizer, tmp_path, max_steps=25)
    report = trainer.train()
    assert report.steps == 25 and len(report.losses) == 25
    assert sum(report.losses[-5:]) < sum(report.losses[:5])
    assert Encoder.load(tmp_path / "final").dim == 32
    saved = json.loads((tmp_path / "train_report.json").read_text())
    assert saved["steps"] == 25 and not (tmp_path / "checkpoint").exists()


def test_training_inside_a_callers_autocast_sees_every_update(tokenizer, tmp_path):
    # Under an enclosing autocast, cached bf16 casts of the weights would outlive each step: the loss would be
    # computed at the first step's weights for the whole run.
    def bf16_losses(run: str, enclosing: bool) -> list[float]:
        trainer = make_trainer(tokenizer, tmp_path / run, max_steps=8)
        trainer.config = replace(trainer.config, bf16=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enclosing):
            return trainer.train().losses

    plain, enclosed = bf16_losses("plain", False), bf16_losses("enclosed", True)
    assert enclosed == pytest.approx(plain, rel=1e-6)
    assert plain[-1] < plain[0]


def test_interrupted_run_resumes_exactly(tokenizer, tmp_path):
    straight = make_trainer(tokenizer, tmp_path / "straight").train()

    # Crash during step 5 of 6: the checkpoint written after step 4 is all the second trainer gets.
    first = make_trainer(tokenizer, tmp_path / "resumed", max_steps=6, checkpoint_every=4)
    real_step, calls = first.optimizer.step, []

    def crash_on_fifth(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    first.optimizer.step = crash_on_fifth
    with pytest.raises(KeyboardInterrupt):
        first.train()
    second = make_trainer(tokenizer, tmp_path / "resumed", max_steps=6, checkpoint_every=4)
    torch.manual_seed(999)  # the resumed run must take its RNG state from the checkpoint, not from here
    resumed = second.train()
    assert resumed.losses == pytest.approx(straight.losses[4:], abs=1e-6)
    final_straight = Encoder.load(tmp_path / "straight" / "final").state_dict()
    final_resumed = Encoder.load(tmp_path / "resumed" / "final").state_dict()
    assert all(torch.allclose(final_straight[k], final_resumed[k], atol=1e-6) for k in final_straight)


def test_corrupt_checkpoint_fails_clearly(tokenizer, tmp_path):
    trainer = make_trainer(tokenizer, tmp_path)
    (tmp_path / "checkpoint" / "model").mkdir(parents=True)
    (tmp_path / "checkpoint" / "trainer_state.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(EmbedlabError, match="corrupt training checkpoint"):
        trainer.train()


def test_config_from_yaml_and_toml(tmp_path):
    (tmp_path / "c.yaml").write_text("data:\n  - path: x.jsonl\nloss:\n  name: cosent\nbatch_size: 8\n")
    (tmp_path / "c.toml").write_text('batch_size = 8\n[[data]]\npath = "x.jsonl"\n[loss]\nname = "cosent"\n')
    for name in ("c.yaml", "c.toml"):
        config = load_config(tmp_path / name, seed=7)
        assert (config.batch_size, config.loss.name, config.data[0].path, config.seed) == (8, "cosent", "x.jsonl", 7)


@pytest.mark.parametrize(
    ("content", "message"),
    [("batch_sise: 8\n", "unknown setting"), ("loss:\n  name: hinge\n", "loss.name must be one of"),
     ("batch_size: 0\n", "batch_size must be at least 1"), ("[1, 2]\n", "mapping"), ("a: [\n", "not valid YAML")],
)
def test_bad_configs_name_the_problem(tmp_path, content, message):
    (tmp_path / "bad.yaml").write_text(content)
    with pytest.raises(EmbedlabError, match=message):
        load_config(tmp_path / "bad.yaml")


def test_build_loss_wraps_matryoshka(minilm):
    loss = build_loss(LossSpec(name="cosent", matryoshka_dims=[384, 64]), minilm)
    assert type(loss).__name__ == "MatryoshkaLoss"


def test_train_from_config_on_files(tmp_path, minilm, tokenizer):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"anchor": a, "positive": p}) + "\n"
                            for a, p in zip(pair_data().columns["anchor"], pair_data().columns["positive"])))
    config = TrainConfig(data=[{"path": str(data)}], output_dir=str(tmp_path / "out"), max_steps=3, batch_size=8,
                         eval_data=None)
    report = train(config, model=make_tiny_encoder(tokenizer))
    assert report.steps == 3 and (tmp_path / "out" / "final" / "modules.json").is_file()
