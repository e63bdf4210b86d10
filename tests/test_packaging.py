"""The wheel and the sdist carry what users and the sdist's own tests need."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import irsde

ROOT = Path(__file__).resolve().parents[1]
BUILD = "import sys; from setuptools import build_meta as b; getattr(b, sys.argv[1])(sys.argv[2])"


def build(kind: str, out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-c", BUILD, kind, str(out)], cwd=ROOT, check=True, capture_output=True
    )
    (artifact,) = [p for p in out.iterdir() if p.suffix in (".whl", ".gz")]
    return artifact


@pytest.mark.slow
def test_wheel_and_sdist_contents(tmp_path):
    wheel = zipfile.ZipFile(build("build_wheel", tmp_path / "w"))
    names = set(wheel.namelist())
    assert "irsde/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    weights = {n for n in names if n.startswith("irsde/weights/")}
    for task in ("denoise", "derain", "deblur", "sr4", "inpaint", "dehaze"):
        assert (
            f"irsde/weights/{task}.safetensors" in weights and f"irsde/weights/{task}.md" in weights
        )
    from irsde.configs import names as config_names

    shipped = {f"irsde/configs/{name}.yml" for name in config_names()}
    assert {"irsde/configs/smoke.yml", "irsde/configs/reference/sr4.yml"} <= shipped <= names
    assert "irsde/configs/__init__.py" in names

    with tarfile.open(build("build_sdist", tmp_path / "s")) as sdist:
        names = sdist.getnames()
    top = names[0].split("/")[0]
    members = {n.removeprefix(top + "/") for n in names}
    for needed in ("LICENSE", "tests/conftest.py", "tests/badinputs.py",
                   "src/irsde/configs/smoke.yml", "configs/embedded/phases.yml",
                   "docs/sde.md", "Makefile", "src/irsde/py.typed"):  # fmt: skip
        assert needed in members, needed
    assert not any("__pycache__" in n for n in members)


def test_dir_lists_the_lazy_public_names():
    names = dir(irsde)
    for name in ("Restorer", "load_model", "IRSDE", "DenoisingSDE", "samplers"):
        assert name in names
