"""Device and precision choices, with the GPU mocked: this machine (and CI) has none.

The GPU paths themselves run only in benchmarks/gpu_check.py, on a machine that has one.
"""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from embedlab import EmbedlabError
from embedlab.backends import check_backend_device
from embedlab.hardware import cpu_info, gpu_has_bf16
from embedlab.models.devices import DEVICE_TYPES, select_device
from embedlab.training import precision as precision_module
from embedlab.training.precision import Precision, training_precision
from tests.test_trainer import make_trainer

NATIVE_BF16 = cpu_info(model="cpu with amx", flags=frozenset({"avx2", "amx_tile", "amx_bf16"}))
NO_BF16 = cpu_info(model="old cpu", flags=frozenset({"avx2"}))
CUDA = torch.device("cuda", 0)
CLIP, MAKE_SCALER = torch.nn.utils.clip_grad_norm_, Precision.grad_scaler


@pytest.fixture
def gpu(monkeypatch):
    """A pretend CUDA machine with one GPU; `gpu(bf16=False)` makes it a pre-Ampere one."""

    def install(bf16: bool = True, count: int = 1) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
        # Emulated bf16 counts only when the caller allows it, as in torch's own check.
        monkeypatch.setattr(
            torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16 or including_emulation
        )

    return install


# ---- the precision table -----------------------------------------------------------------------


def test_gpu_with_bf16_trains_in_bf16_without_a_scaler(gpu):
    gpu(bf16=True)
    assert training_precision(CUDA, bf16=True) == Precision("cuda", torch.bfloat16, scaled=False)


def test_gpu_without_bf16_trains_in_fp16_with_a_scaler(gpu):
    gpu(bf16=False)
    assert training_precision(CUDA, bf16=True) == Precision("cuda", torch.float16, scaled=True)


def test_emulated_gpu_bf16_does_not_count_as_bf16(gpu):
    gpu(bf16=False)
    assert torch.cuda.is_bf16_supported()  # torch's default check counts emulation
    assert not gpu_has_bf16()


def test_without_bf16_asked_every_device_trains_in_fp32(gpu):
    gpu()
    for device in (CUDA, torch.device("cpu"), torch.device("mps")):
        assert training_precision(device, bf16=False, cpu=NATIVE_BF16) == Precision(device.type)


def test_cpu_with_native_bf16_trains_in_bf16_quietly():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert training_precision(torch.device("cpu"), bf16=True, cpu=NATIVE_BF16) == Precision("cpu", torch.bfloat16)


def test_cpu_without_native_bf16_still_trains_in_bf16_but_warns():
    # As before the device choice existed: the user asked for bf16, so it runs, with a warning that it is slow.
    with pytest.warns(UserWarning, match="old cpu has no native bf16"):
        chosen = training_precision(torch.device("cpu"), bf16=True, cpu=NO_BF16)
    assert chosen == Precision("cpu", torch.bfloat16)


def test_mps_trains_in_fp32_and_says_so():
    with pytest.warns(UserWarning, match="not used on mps"):
        assert training_precision(torch.device("mps"), bf16=True) == Precision("mps")


def test_only_fp16_gets_an_enabled_grad_scaler():
    assert Precision("cpu", torch.float16, scaled=True).grad_scaler().is_enabled()
    assert not Precision("cpu", torch.bfloat16).grad_scaler().is_enabled()
    assert not Precision("cpu").grad_scaler().is_enabled()


def test_fp32_precision_runs_without_autocast():
    with Precision("cpu").autocast():
        assert not torch.is_autocast_enabled("cpu")
    with Precision("cpu", torch.bfloat16).autocast():
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")


# ---- the trainer uses what was chosen ----------------------------------------------------------


def _run(tokenizer, tmp_path, monkeypatch, chosen: Precision) -> tuple[list[float], list[float], list]:
    """Train 6 steps under `chosen`; the losses, the clipped gradient norms and the scalers the trainer made."""
    monkeypatch.setattr("embedlab.training.trainer.training_precision", lambda device, bf16: chosen)
    norms, scalers = [], []
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda *a, **k: norms.append(float(CLIP(*a, **k))))
    monkeypatch.setattr(Precision, "grad_scaler", lambda self: scalers.append(MAKE_SCALER(self)) or scalers[-1])
    losses = make_trainer(tokenizer, tmp_path, max_steps=6).train().losses
    return losses, norms, scalers


@pytest.fixture(scope="module")
def tokenizer(minilm):
    return minilm.tokenizer


def test_trainer_scales_fp16_gradients_and_unscales_them_before_clipping(tokenizer, tmp_path, monkeypatch):
    fp32_losses, fp32_norms, (fp32_scaler,) = _run(tokenizer, tmp_path / "fp32", monkeypatch, Precision("cpu"))
    fp16 = Precision("cpu", torch.float16, scaled=True)
    fp16_losses, fp16_norms, (fp16_scaler,) = _run(tokenizer, tmp_path / "fp16", monkeypatch, fp16)
    assert not fp32_scaler.is_enabled() and fp16_scaler.is_enabled()
    assert fp16_scaler.get_scale() > 1  # the loss really was scaled up
    # Steps whose scaled fp16 gradients overflowed are skipped (non-finite norm); the others saw true gradients,
    # as fp32 did, not ones thousands of times larger.
    finite = [(a, b) for a, b in zip(fp16_norms, fp32_norms) if math.isfinite(a)]
    assert finite and all(a == pytest.approx(b, rel=0.1) for a, b in finite)
    assert all(math.isfinite(loss) for loss in fp16_losses)
    assert fp16_losses[0] == pytest.approx(fp32_losses[0], rel=0.01)


def test_trainer_asks_for_the_models_device_and_the_config_flag(tokenizer, tmp_path, monkeypatch):
    asked = []
    real = precision_module.training_precision
    monkeypatch.setattr(
        "embedlab.training.trainer.training_precision",
        lambda device, bf16: asked.append((device, bf16)) or real(device, bf16),
    )
    make_trainer(tokenizer, tmp_path, max_steps=1).train()
    assert asked == [(torch.device("cpu"), False)]


# ---- where models run --------------------------------------------------------------------------


def test_default_device_is_the_gpu_for_torch_backends_only(gpu):
    gpu()
    for backend in ("torch", "torch-bf16", "torch-fp16", "auto"):
        assert select_device(None, backend) == CUDA
    for backend in ("onnx", "onnx-int8", "openvino-int8"):
        assert select_device(None, backend) == torch.device("cpu")


def test_default_device_without_a_gpu_is_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device(None, "auto") == torch.device("cpu")


def test_a_bare_cuda_names_the_current_gpu(gpu):
    gpu(count=2)
    assert select_device("cuda") == select_device("cuda:0") == CUDA
    assert select_device("cuda:1") == torch.device("cuda", 1)


@pytest.mark.parametrize(
    ("device", "message"),
    [("gpu", "unknown device 'gpu'"), ("meta", "unknown device 'meta'"), ("cuda:2", "there are 1 CUDA GPUs")],
)
def test_bad_devices_are_one_line(gpu, device, message):
    gpu(count=1)
    with pytest.raises(EmbedlabError, match=message):
        select_device(device)


def test_mps_is_named_as_its_tensors_name_it(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert select_device("mps") == select_device("mps:0") == torch.device("mps", 0)


def test_missing_gpus_are_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(EmbedlabError, match="sees no CUDA GPU"):
        select_device("cuda")
    with pytest.raises(EmbedlabError, match="no Apple GPU"):
        select_device("mps")


def test_backends_are_refused_where_they_cannot_run(gpu, monkeypatch):
    gpu(bf16=False)
    monkeypatch.setattr("embedlab.backends.cpu_info", lambda: NO_BF16)
    for name, device, message in [
        ("onnx", CUDA, "runs on the CPU"),
        ("onnx-int8", CUDA, "runs on the CPU"),
        ("torch-fp16", torch.device("cpu"), "runs on a GPU"),
        ("torch-bf16", CUDA, "no bf16 arithmetic"),
        ("torch-bf16", torch.device("cpu"), "needs a CPU with native bf16"),
    ]:
        with pytest.raises(EmbedlabError, match=message):
            check_backend_device(name, device)
    for name in ("torch", "torch-fp16"):
        check_backend_device(name, CUDA)


def test_encode_on_a_missing_gpu_is_refused_and_the_model_stays(minilm, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(EmbedlabError, match="sees no CUDA GPU"):
        minilm.encode("hello", device="cuda")
    assert minilm.device == torch.device("cpu")


def test_encode_refuses_to_move_an_onnx_model_before_moving_it(minilm, gpu, monkeypatch):
    gpu()
    monkeypatch.setattr(minilm, "backend", SimpleNamespace(name="onnx", reason=""))
    with pytest.raises(EmbedlabError, match="backend onnx runs on the CPU"):
        minilm.encode("hello", device="cuda")
    assert minilm.device == torch.device("cpu")


def test_encode_on_the_models_own_device_keeps_its_backend(minilm):
    backend = minilm.backend
    expected = minilm.encode(["a cat", "a dog"])
    assert torch.allclose(torch.from_numpy(minilm.encode(["a cat", "a dog"], device="cpu")), torch.from_numpy(expected))
    assert minilm.backend is backend and minilm.device == torch.device("cpu")


# ---- --device on the command line ---------------------------------------------------------------


def test_cli_encode_and_train_take_a_device_and_refuse_a_missing_one(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from embedlab.cli.app import app

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    texts = tmp_path / "texts.txt"
    texts.write_text("a cat\na dog\n")
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"anchor": "a cat", "positive": "a kitten"}\n')
    config = tmp_path / "train.yaml"
    config.write_text(f"data: [{{path: {pairs}}}]\neval_data: null\noutput_dir: {tmp_path / 'run'}\n")
    runner = CliRunner()
    for args in (["encode", "-i", str(texts), "-o", str(tmp_path / "x.npy"), "--device", "cuda"],
                 ["train", str(config), "--device", "cuda"]):
        result = runner.invoke(app, args)
        assert isinstance(result.exception, EmbedlabError), result.output
        assert "sees no CUDA GPU" in str(result.exception)
    assert not (tmp_path / "x.npy").exists() and not (tmp_path / "run").exists()
    result = runner.invoke(app, ["encode", "-i", str(texts), "-o", str(tmp_path / "x.npy"), "--device", "cpu"])
    assert result.exit_code == 0 and (tmp_path / "x.npy").exists()


@given(st.one_of(st.text(max_size=12), st.sampled_from(["cpu", "cuda", "cuda:0", "cuda:-1", "mps", "cpu:0", "xla"])))
def test_any_device_text_is_a_known_device_or_one_clear_error(text):
    try:
        chosen = select_device(text)
    except EmbedlabError as err:
        assert "\n" not in str(err)
    else:
        assert chosen.type in DEVICE_TYPES
