"""Each optional extra missing, as `pip install embedlab` alone leaves it: the feature says which pip command,
in one line."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

from embedlab.cli.app import main
from embedlab.extras import EXTRAS, MissingExtra, installed, require


def without(monkeypatch, *modules: str) -> None:
    """Make `import module` fail as it does where the package is not installed."""
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def test_every_optional_module_belongs_to_an_extra_of_the_package():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    extras = pyproject["project"]["optional-dependencies"]
    core = " ".join(pyproject["project"]["dependencies"])
    for module, (extra, package) in EXTRAS.items():
        assert any(spec.startswith(package) for spec in extras[extra]), (module, extra)
        assert package not in core, f"{package} is optional but still a core dependency"
    (everything,) = extras["all"]
    assert set(everything.removeprefix("embedlab[").removesuffix("]").split(",")) == {e for e, _ in EXTRAS.values()}


@pytest.mark.parametrize("store, module, message", [
    ("faiss-hnsw", "faiss",
     "the faiss-hnsw store needs faiss-cpu, which is not installed: pip install 'embedlab[index]'"),
    ("faiss-ivfpq", "faiss",
     "the faiss-ivfpq store needs faiss-cpu, which is not installed: pip install 'embedlab[index]'"),
    ("binary", "faiss", "the binary store needs faiss-cpu, which is not installed: pip install 'embedlab[index]'"),
    ("milvus", "pymilvus", "the milvus store needs pymilvus, which is not installed: pip install 'embedlab[index]'"),
])
def test_vector_stores_without_the_index_extra(monkeypatch, store, module, message):
    from embedlab.index.registry import create_store

    without(monkeypatch, module)
    with pytest.raises(MissingExtra) as raised:
        create_store(store, 8)
    assert str(raised.value) == message


def test_embedded_milvus_without_milvus_lite(monkeypatch):
    pytest.importorskip("pymilvus")
    from embedlab.index.milvus_store import MilvusStore

    without(monkeypatch, "milvus_lite")
    with pytest.raises(
        MissingExtra, match=r"embedded milvus store \(no uri\) needs milvus-lite, .*'embedlab\[index\]'"
    ):
        MilvusStore(8)


def test_onnx_backends_and_export_without_the_onnx_extra(monkeypatch, minilm, tmp_path):
    from embedlab.backends import load_backend
    from embedlab.backends.export import export_onnx

    without(monkeypatch, "onnxruntime", "onnx")
    for name in ("onnx", "onnx-int8"):
        with pytest.raises(MissingExtra) as raised:
            load_backend(minilm, name)
        assert str(raised.value) == (
            f"backend {name} needs onnxruntime, which is not installed: pip install 'embedlab[onnx]'"
        )
    with pytest.raises(
        MissingExtra, match=r"^ONNX export needs onnx, which is not installed: pip install 'embedlab\[onnx\]'$"
    ):
        export_onnx(minilm, tmp_path / "onnx", int8=False)
    assert list(tmp_path.iterdir()) == []
    assert not installed("onnxruntime")  # so auto picks a torch backend instead


def test_the_server_without_the_serve_extra(monkeypatch, capsys):
    import embedlab.server

    without(monkeypatch, "fastapi")
    with pytest.raises(
        MissingExtra, match=r"^the embedding server needs fastapi, .*: pip install 'embedlab\[serve\]'$"
    ):
        embedlab.server.create_app  # noqa: B018 - the attribute access is what imports the server
    monkeypatch.setattr(sys, "argv", ["embedlab", "serve"])
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # main() installs its own; put it back after
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 1
    assert capsys.readouterr().err == (
        "error: embedlab serve needs fastapi, which is not installed: pip install 'embedlab[serve]'\n"
    )


def test_a_broken_install_says_why_it_failed(monkeypatch, tmp_path):
    package = tmp_path / "faiss"
    package.mkdir()
    (package / "__init__.py").write_text("import a_dependency_that_is_not_there\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "faiss", raising=False)
    with pytest.raises(MissingExtra) as raised:
        require("faiss", "the faiss-hnsw store")
    assert str(raised.value) == (
        "the faiss-hnsw store needs faiss-cpu, which failed to import (No module named "
        "'a_dependency_that_is_not_there'): pip install 'embedlab[index]'"
    )
