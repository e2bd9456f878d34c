"""CPU detection: /proc/cpuinfo parsing, feature mapping and the benchmark report header."""

from __future__ import annotations

import json

import pytest
import torch

from embedlab import hardware
from embedlab.hardware import (
    FEATURES,
    CpuInfo,
    as_dict,
    cpu_info,
    parse_cpuinfo,
    report_header,
)

X86_CPUINFO = """\
processor	: 0
vendor_id	: GenuineIntel
cpu family	: 6
model		: 143
model name	: Intel(R) Xeon(R) Platinum 8480+
flags		: fpu sse sse2 avx avx2 fma avx512f avx512bw avx512_vnni amx_tile amx_int8

processor	: 1
vendor_id	: GenuineIntel
model name	: Some Other Core
flags		: fpu sse
"""

ARM_CPUINFO = """\
processor	: 0
BogoMIPS	: 243.75
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp bf16
CPU implementer	: 0x41
"""


@pytest.fixture
def fresh_detection():
    hardware._cpu_identity.cache_clear()
    yield
    hardware._cpu_identity.cache_clear()


def test_parse_reads_first_processor_model_and_flags() -> None:
    model, flags = parse_cpuinfo(X86_CPUINFO)
    assert model == "Intel(R) Xeon(R) Platinum 8480+"
    assert {"avx2", "avx512_vnni", "amx_tile"} <= flags
    assert "avx512_bf16" not in flags


def test_parse_prefers_model_name_over_numeric_model() -> None:
    assert parse_cpuinfo("model\t\t: 143\nmodel name\t: Real Name\n")[0] == "Real Name"
    assert parse_cpuinfo("Model\t\t: Raspberry Pi 4 Model B\n")[0] == "Raspberry Pi 4 Model B"


def test_parse_arm_features_without_model() -> None:
    model, flags = parse_cpuinfo(ARM_CPUINFO)
    assert model == ""
    assert "asimd" in flags and "bf16" in flags


def test_flags_map_to_feature_booleans() -> None:
    _, flags = parse_cpuinfo(X86_CPUINFO)
    info = cpu_info(model="fake", flags=flags)
    assert (info.avx2, info.fma, info.avx512f, info.avx512_vnni) == (True, True, True, True)
    assert (info.amx_tile, info.amx_int8) == (True, True)
    # Never assumed: absent from the flags means False, even on a CPU family that usually has it.
    assert (info.avx512_bf16, info.amx_bf16) == (False, False)
    assert info.features == ["avx2", "fma", "avx512f", "avx512_vnni", "amx_tile", "amx_int8"]


def test_arm_flags_set_no_x86_features() -> None:
    _, flags = parse_cpuinfo(ARM_CPUINFO)
    assert cpu_info(flags=flags).features == []


def test_missing_cpuinfo_means_no_features(monkeypatch, tmp_path, fresh_detection) -> None:
    monkeypatch.setattr(hardware, "CPUINFO", tmp_path / "absent")
    monkeypatch.setattr(hardware.platform, "processor", lambda: "Fallback CPU 9000")
    info = cpu_info()
    assert info.model == "Fallback CPU 9000"
    assert not any(getattr(info, name) for name in FEATURES)


def test_detection_reads_the_cpuinfo_file(monkeypatch, tmp_path, fresh_detection) -> None:
    fake = tmp_path / "cpuinfo"
    fake.write_text(X86_CPUINFO)
    monkeypatch.setattr(hardware, "CPUINFO", fake)
    info = cpu_info()
    assert info.model == "Intel(R) Xeon(R) Platinum 8480+"
    assert info.amx_tile and not info.amx_bf16


def test_runtime_facts_follow_torch_and_the_process() -> None:
    info = cpu_info()
    assert info.logical_cores >= 1
    assert info.torch_threads == torch.get_num_threads()
    assert info.torch_capability == torch.backends.cpu.get_cpu_capability()


def test_header_names_model_features_threads_and_torch() -> None:
    info = CpuInfo("Test CPU X1", "x86_64", 8, 4, "AVX2", avx2=True, fma=True)
    header = report_header(info)
    assert "Test CPU X1" in header
    assert "avx2, fma" in header
    assert "avx512f" not in header
    assert "4 threads" in header and torch.__version__ in header
    assert all(line.startswith("- ") for line in header.splitlines())


def test_header_says_when_no_feature_is_present() -> None:
    header = report_header(CpuInfo("Plain", "aarch64", 2, 2, "DEFAULT"))
    assert "none of avx2" in header


def test_as_dict_is_json_ready() -> None:
    info = CpuInfo("Test CPU", "x86_64", 2, 2, "AVX512", avx512f=True)
    data = json.loads(json.dumps(as_dict(info)))
    assert data["model"] == "Test CPU"
    assert data["avx512f"] is True and data["avx2"] is False
    assert data["features"] == ["avx512f"]
