"""The training loop on a tiny random BERT: learning happens, resume is exact, configs fail clearly."""

from __future__ import annotations

import copy
import io
import itertools
import json
import signal
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from embedlab import EmbedlabError, Encoder
from embedlab.data.batch_sampling import MixtureSampler
from embedlab.data.training_sets import TrainingSet
from embedlab.losses import InfoNCELoss
from embedlab.training import step_log
from embedlab.training.build import build_loss, train
from embedlab.training.config import LossSpec, TrainConfig, load_config
from embedlab.training.schedule import Budget, learning_rate_factor
from embedlab.training.step_log import StepLog
from embedlab.training.trainer import Trainer
from tests.tiny_models import make_tiny_encoder

WORDS = ["cat", "dog", "bird", "fish", "tree", "rock", "sun", "moon", "car", "bus",
         "road", "city", "sea", "lake", "hill", "snow", "rain", "wind", "fire", "ice"]



def pair_data(n: int = 40) -> TrainingSet:
    anchors = [f"the {WORDS[i % 20]} and the {WORDS[(i * 7 + 3) % 20]} number {i}" for i in range(n)]
    return TrainingSet("toy", {"anchor": anchors, "positive": [a.upper() for a in anchors]})


def make_trainer(tokenizer, tmp_path: Path, max_steps: int = 6, checkpoint_every: int = 100, **settings) -> Trainer:
    config = TrainConfig(data=[], output_dir=str(tmp_path), max_steps=max_steps, batch_size=8, learning_rate=1e-3,
                         checkpoint_every=checkpoint_every, eval_every=1000, seed=3, **settings)
    torch.manual_seed(config.seed)
    model = make_tiny_encoder(tokenizer)
    batches = MixtureSampler([pair_data()], config.batch_size, seed=config.seed)
    return Trainer(config, model, InfoNCELoss(temperature=0.1), batches)


def test_warmup_then_linear_decay():
    budget = Budget(total_steps=6, seconds=None)
    factors = [learning_rate_factor(*budget.step_span(step, 0.0, 0.0), warmup=2 / 6) for step in range(6)]
    assert factors == pytest.approx([0.5, 1.0, 1.0, 0.75, 0.5, 0.25])


@given(start=st.floats(0, 1), length=st.floats(0, 0.5), warmup=st.floats(0, 0.99))
def test_learning_rate_factor_stays_in_range_and_only_ends_at_the_end(start, length, warmup):
    end = min(1.0, start + length)
    factor = learning_rate_factor(start, end, warmup)
    assert 0 <= factor <= 1
    # Past the warm-up the rate falls with the start; it is 0 only once the budget is spent.
    if start >= warmup:
        assert factor == pytest.approx((1 - start) / (1 - warmup))
    assert (factor == 0) == (start >= 1 or (end == 0 and warmup > 0))


def test_a_time_budget_ends_a_run_and_sets_the_schedule_by_time():
    budget = Budget(total_steps=None, seconds=100.0)
    assert budget.fraction(step=10**6, elapsed=50.0) == 0.5
    assert budget.step_span(step=3, elapsed=50.0, last_step_seconds=10.0) == (0.5, 0.6)
    both = Budget(total_steps=10, seconds=100.0)
    assert both.fraction(step=5, elapsed=80.0) == 0.8 and both.step_span(5, 80.0, 1.0) == (0.5, 0.6)


def test_training_lowers_the_loss_and_writes_models(tokenizer, tmp_path):
    trainer = make_trainer(tokenizer, tmp_path, max_steps=25)
    report = trainer.train()
    assert report.steps == 25 and len(report.losses) == 25
    assert sum(report.losses[-5:]) < sum(report.losses[:5])
    assert Encoder.load(tmp_path / "final").dim == 32
    saved = json.loads((tmp_path / "train_report.json").read_text())
    assert saved["steps"] == 25 and not (tmp_path / "checkpoint").exists()


def test_the_optimizer_is_fused_adamw_and_steps_as_torchs_loop_does(tokenizer, tmp_path):
    # The fused kernel is a speed choice only: its steps must move the weights as torch's per-tensor loop does.
    trainer = make_trainer(tokenizer, tmp_path)
    assert trainer.optimizer.defaults["fused"]
    fused_parameters = list(trainer.model.parameters())
    loop_parameters = list(copy.deepcopy(trainer.model).parameters())
    position = {id(p): i for i, p in enumerate(fused_parameters)}
    groups = [{**group, "params": [loop_parameters[position[id(p)]] for p in group["params"]]}
              for group in trainer.optimizer.param_groups]
    loop = torch.optim.AdamW([{k: v for k, v in g.items() if k not in ("fused", "foreach")} for g in groups],
                             foreach=False)
    assert {group["weight_decay"] for group in groups} == {0.0, trainer.config.weight_decay}
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        for fused, looped in zip(fused_parameters, loop_parameters):
            fused.grad = torch.randn(fused.shape, generator=generator)
            looped.grad = fused.grad.clone()
        trainer.optimizer.step()
        loop.step()
    for fused, looped in zip(fused_parameters, loop_parameters):
        torch.testing.assert_close(fused, looped, rtol=1e-5, atol=1e-7)


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


def test_ctrl_c_stops_after_the_step_with_a_checkpoint_that_resumes_exactly(tokenizer, tmp_path):
    straight = make_trainer(tokenizer, tmp_path / "straight").train()
    first = make_trainer(tokenizer, tmp_path / "resumed")
    real_step, calls = first.optimizer.step, []

    def ctrl_c_in_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)
        return real_step(*args, **kwargs)

    first.optimizer.step = ctrl_c_in_third
    # Whatever handler the process had (a background job starts with SIGINT ignored) is the one put back.
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        first.train()
    assert signal.getsignal(signal.SIGINT) is before
    second = make_trainer(tokenizer, tmp_path / "resumed")
    resumed = second.train()
    assert resumed.resumed_from == 3 and resumed.losses == pytest.approx(straight.losses[3:], abs=1e-6)
    final_straight = Encoder.load(tmp_path / "straight" / "final").state_dict()
    final_resumed = Encoder.load(tmp_path / "resumed" / "final").state_dict()
    assert all(torch.allclose(final_straight[k], final_resumed[k], atol=1e-6) for k in final_straight)


def test_away_from_a_terminal_training_prints_loss_lines(tokenizer, tmp_path, capsys):
    report = make_trainer(tokenizer, tmp_path, max_steps=6, log_every=2).train()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["2/6", "4/6", "6/6"]
    for line, point in zip(lines, report.history):
        assert f"loss {point['loss']:.4g}" in line and "steps/s" in line and "elapsed" in line
    assert "left" in lines[0] and "left" not in lines[-1]
    assert report.history[0]["loss"] == pytest.approx(sum(report.losses[:2]) / 2)
    saved = json.loads((tmp_path / "train_report.json").read_text())
    assert [point["step"] for point in saved["history"]] == [2, 4, 6]


def test_without_log_every_a_line_comes_every_tenth_of_the_run(tokenizer, tmp_path, capsys):
    make_trainer(tokenizer, tmp_path, max_steps=20).train()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == [f"{step}/20" for step in range(2, 21, 2)]


def test_step_log_prints_on_a_steady_clock_away_from_a_terminal(monkeypatch):
    clock = itertools.count(0.0, 10.0)  # every reading 10 s on
    monkeypatch.setattr(step_log.time, "perf_counter", lambda: next(clock))
    stream = io.StringIO()
    with StepLog("training", total_steps=100, every_seconds=30, stream=stream) as log:
        for step in range(1, 11):
            log.advance(step, step / 100, loss=float(step))
    lines = stream.getvalue().splitlines()
    # Readings at 10, 20, 30 ... s: a line once 30 s have passed since the last, with the mean loss since.
    assert [line.split()[1] for line in lines] == ["3/100", "6/100", "9/100"]
    assert "loss 2 " in lines[0] and "loss 5 " in lines[1]
    assert all("steps/s" in line and "left" in line for line in lines)


def test_step_log_draws_a_bar_on_a_terminal_and_no_lines():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    with StepLog("training", total_steps=3, every_seconds=0, stream=stream) as log:
        assert log.on_terminal
        for step in range(1, 4):
            log.advance(step, step / 3, loss=1.0)
    assert "step 1/3" not in stream.getvalue()


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
     ("batch_size: 0\n", "batch_size must be a positive integer"), ("batch_size: true\n", "positive integer"),
     ("[1, 2]\n", "mapping"), ("a: [\n", "not valid YAML"),
     ("epochs: null\n", "a run needs an end"), ("max_minutes: 0\n", "max_minutes must be positive")],
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
