"""The command line: version, help, the oracle demo."""

from __future__ import annotations

import subprocess
import sys

import irsde
from irsde.cli import main


def test_version_and_help(capsys):
    try:
        main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert irsde.__version__ in capsys.readouterr().out


def test_python_dash_m_help():
    res = subprocess.run(
        [sys.executable, "-m", "irsde", "--help"], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0
    assert "COMMAND" in res.stdout and "demo" in res.stdout


def test_core_import_is_light():
    code = "import sys, irsde; from irsde import IRSDE; print(sorted(m for m in ('matplotlib', 'tensorboard', 'fastapi', 'scipy', 'skimage') if m in sys.modules))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"


def test_oracle_demo_writes_figure(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path), "--steps", "5"]) == 0
    out = capsys.readouterr().out
    assert "posterior sampler" in out
    assert (tmp_path / "oracle_demo.png").stat().st_size > 10_000
    assert (tmp_path / "oracle_restored.png").exists()


# ---------------------------------------------------------------------------- flags
def test_quiet_and_debug_work_after_the_sub_command_too(tmp_path, capsys):
    import pytest

    from irsde.errors import ModelLoadError

    with pytest.raises(ModelLoadError):
        main(["info", str(tmp_path / "nothere.safetensors"), "--debug"])
    assert main(["info", str(tmp_path / "nothere.safetensors")]) == 2
    assert "error: model file not found" in capsys.readouterr().err
    from irsde.cli import build_parser

    for argv in (["-q", "models"], ["models", "-q"], ["models", "--quiet"]):
        assert build_parser().parse_args(argv).quiet is True
    assert build_parser().parse_args(["models"]).quiet is False


def test_restore_help_names_the_real_defaults():
    from irsde.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["restore"]
    helps = {a.dest: a.help for a in sub._actions}
    assert "model's stored steps" in helps["steps"]
    assert "embedded model's name" in helps["model"]


# ---------------------------------------------------------------------------- configs
def test_configs_lists_the_shipped_configs(capsys):
    import json
    from pathlib import Path

    assert main(["configs"]) == 0
    out = capsys.readouterr().out
    assert "smoke" in out and "reference/denoise" in out
    assert main(["configs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} >= {"smoke", "reference/sr4"}
    assert all(Path(r["path"]).is_file() and r["summary"] for r in rows)


def test_every_shipped_config_is_valid():
    import yaml

    from irsde.configs import config_path, names
    from irsde.train import parse_config

    for name in names():
        cfg = parse_config(yaml.safe_load(config_path(name).read_text()), name)
        assert cfg.sde_settings()["T"] >= 1


def test_print_config_writes_out_the_shipped_yaml(capsys):
    from irsde.configs import config_path

    assert main(["train", "--print-config", "smoke"]) == 0
    assert capsys.readouterr().out == config_path("smoke").read_text()
    assert main(["train", "--print-config", "nope"]) == 2
    assert "shipped: " in capsys.readouterr().err


def test_train_a_shipped_config_by_name_from_any_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["train", "smoke", "--out", "runs/smoke", "--max-steps", "2", "--no-progress"]
    assert main(argv) == 0
    assert (tmp_path / "runs/smoke/final.safetensors").is_file()
    out = capsys.readouterr().out
    assert '"steps": 2' in out and "run folder: runs/smoke" in out
    assert main([*argv[:4], "--max-steps", "3", "--no-progress", "--resume", "-q"]) == 0
    assert capsys.readouterr().out == ""  # -q silences the summary
    assert main(["train", "configs/smoke.yml", "--out", "r"]) == 2
    err = capsys.readouterr().err
    assert "configs/smoke.yml" in err and "smoke" in err.split("shipped:")[1]


def test_no_tensorboard_suggestion_without_tensorboard_logs(tmp_path):
    from irsde.cli.train import _tensorboard_hint

    assert "tensorboard --logdir" not in _tensorboard_hint(tmp_path / "tb")
    (tmp_path / "tb").mkdir()
    assert "irsde[train]" in _tensorboard_hint(tmp_path / "tb")
    (tmp_path / "tb" / "events.out").write_bytes(b"x")
    assert f"tensorboard --logdir {tmp_path / 'tb'}" in _tensorboard_hint(tmp_path / "tb")


# ---------------------------------------------------------------------------- README
def test_readme_first_screen_is_pip_first_and_lists_every_sampler():
    import re
    from pathlib import Path

    from irsde.samplers import SAMPLERS

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    first = readme[: readme.index("## Restore photos")]
    pin = re.search(r"^TORCH \?= (\S+)", (root / "Makefile").read_text(), re.M).group(1)
    assert f"pip install {pin}" in first  # torch first, pinned as the Makefile does
    for needed in ("--model denoise", 'irsde.Restorer("denoise")', "irsde train smoke",
                   "make demo", "make test"):  # fmt: skip
        assert needed in first, needed
    (image,) = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", first)
    assert (root / image).is_file()
    assert "## The method" not in first and ".venv/bin/irsde" not in readme
    for name, sampler in SAMPLERS.items():
        assert f"- `{name}`: {sampler.description}" in readme, name
