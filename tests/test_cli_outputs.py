"""Every command that writes a file or folder: an impossible destination is one line before any work,
never a traceback."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import typer

from embedlab.cli.app import app, main
from embedlab.cli.outputs import check_writable
from embedlab.errors import EmbedlabError

# The option names commands write through; a new writing command that uses one of them is tested without a new line.
OUTPUT_NAMES = {"output", "out", "output_dir", "json", "report", "plot"}
# Options where a folder is wanted; the others name a file.
FOLDERS = {
    ("eval", "suite", "out"),
    ("diagnose", "out"),
    ("export", "out"),
    ("distill", "out"),
    ("pretrain", "out"),
    ("train", "output_dir"),
    ("index", "build", "out"),
}


def writing_options() -> list[tuple[tuple[str, ...], Any]]:
    """(command path, option) for every option of every command that names where results are written."""
    found = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        if hasattr(command, "commands"):  # a group: Typer's click, vendored, so no isinstance against click
            for name, sub in command.commands.items():
                walk(sub, (*path, name))
            return
        found.extend((path, param) for param in command.params if param.name in OUTPUT_NAMES)

    walk(typer.main.get_command(app), ())
    return found


OPTIONS = writing_options()


def arguments(path: tuple[str, ...], option: Any, target: Path) -> list[str]:
    """The command with every required parameter given a placeholder and `option` pointing at `target`."""
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    args = list(path)
    for param in command.params:
        if param is option or not param.required:
            continue
        if param.param_type_name == "argument":
            args.append("placeholder")
        else:
            args += [param.opts[0], "placeholder"]
    return [*args, option.opts[0], str(target)]


def run_main(monkeypatch, capsys, args: list[str]) -> tuple[int, str]:
    """`embedlab ARGS` through the console entry point, in this process: (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["embedlab", *args])
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # main() installs its own; put it back after
    with pytest.raises(SystemExit) as stopped:
        main()
    return stopped.value.code, capsys.readouterr().err


def test_every_writing_command_is_covered():
    commands = {" ".join(path) for path, _ in OPTIONS}
    expected = {
        "encode",
        "eval sts",
        "eval retrieval",
        "eval suite",
        "diagnose",
        "export",
        "distill",
        "dedup",
        "cluster",
        "synth",
        "train",
        "mine",
        "pretrain",
        "index build",
    }
    assert expected <= commands


@pytest.mark.parametrize("path, option", OPTIONS, ids=[f"{' '.join(p)} --{o.name}" for p, o in OPTIONS])
def test_a_destination_under_a_file_is_one_line_before_any_work(monkeypatch, capsys, tmp_path, path, option):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder\n")
    target = blocker / "results" / "out.jsonl"
    code, err = run_main(monkeypatch, capsys, arguments(path, option, target))
    assert code == 1
    assert err.strip() == f"error: cannot write {target}: {blocker} is a file, not a folder"
    assert "Traceback" not in err and blocker.read_text() == "a file, not a folder\n"


@pytest.mark.parametrize("path, option", OPTIONS, ids=[f"{' '.join(p)} --{o.name}" for p, o in OPTIONS])
def test_a_file_where_a_folder_goes_and_the_reverse_are_one_line(monkeypatch, capsys, tmp_path, path, option):
    folder = (*path, option.name) in FOLDERS
    existing = tmp_path / "taken"
    if folder:
        existing.write_text("a file\n")
    else:
        existing.mkdir()
    code, err = run_main(monkeypatch, capsys, arguments(path, option, existing))
    expected = (
        f"cannot write into {existing}: it is a file, not a folder"
        if folder
        else f"cannot write {existing}: it is a folder; give a file name"
    )
    assert (code, err.strip()) == (1, f"error: {expected}")


def test_missing_parents_are_fine_and_not_created_by_the_check(tmp_path):
    target = tmp_path / "a" / "b" / "out.npy"
    check_writable(target, folder=False)
    check_writable(tmp_path / "new" / "folder", folder=True)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_past_the_check_is_one_line(monkeypatch, capsys, tmp_path):
    source = tmp_path / "texts.txt"
    source.write_text("one\ntwo\n")
    (tmp_path / "v.npy.parts").write_text("in the way of the chunk folder\n")
    code, err = run_main(
        monkeypatch, capsys, ["encode", "-i", str(source), "-o", str(tmp_path / "v.npy"), "--workers", "2"]
    )
    assert (code, err.strip()) == (1, f"error: Not a directory: {tmp_path / 'v.npy.parts'}")


def test_the_check_refuses_with_embedlab_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(EmbedlabError, match="is a file, not a folder"):
        check_writable(tmp_path / "file" / "deeper" / "x.json", folder=False)


def test_a_training_config_whose_output_dir_cannot_be_written_stops_before_training(monkeypatch, capsys, tmp_path):
    from embedlab.training import build

    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file\n")
    (tmp_path / "pairs.jsonl").write_text('{"anchor": "a", "positive": "b"}\n')
    config = tmp_path / "train.yaml"
    config.write_text(f"model: minilm\ndata:\n  - path: {tmp_path / 'pairs.jsonl'}\noutput_dir: {blocker / 'run'}\n")
    monkeypatch.setattr(build, "train", lambda *args, **kwargs: pytest.fail("training started"))
    code, err = run_main(monkeypatch, capsys, ["train", str(config)])
    assert (code, err.strip()) == (1, f"error: cannot write {blocker / 'run'}: {blocker} is a file, not a folder")
