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
