"""``irsde eval`` on single files; the web job report keeps views and samples apart."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from irsde.cli import main
from irsde.io import save_image

RNG = np.random.default_rng(0)


def test_eval_accepts_single_files(tmp_path, capsys):
    a = RNG.integers(10, 240, (24, 32, 3), dtype=np.uint8)
    save_image(tmp_path / "restored.png", a + 5)
    save_image(tmp_path / "truth.png", a)
    save_image(tmp_path / "gt" / "restored.png", a)
    out = tmp_path / "r.json"
    pred, gt = str(tmp_path / "restored.png"), str(tmp_path / "truth.png")
    assert main(["eval", "--pred", pred, "--gt", gt, "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())["images"]
    assert row["psnr"] == 10 * math.log10(255**2 / 25)
    assert main(["eval", "--pred", pred, "--gt", str(tmp_path / "gt")]) == 0  # file vs folder
    assert f"{10 * math.log10(255**2 / 25):.2f}" in capsys.readouterr().out
    assert main(["eval", "--pred", str(tmp_path / "nope.png"), "--gt", gt]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_job_report_says_views_and_samples_apart():
    from irsde.web.jobs import Job, JobRequest

    req = JobRequest(
        model="m", sampler="posterior", steps=1, seed=0, samples=1,
        source=Path("x.png"), owned=False, name="x.png",
    )  # fmt: skip
    job = Job(req, samples=1, steps=0)
    # the Restorer's callback counts every sampler run: 1 sample x 8 views = 8 runs
    for k in range(8):
        job.on_step({"i": 0, "steps": 1, "sample": k, "samples": 8})
    status = job.status()
    assert (status["samples"], status["views"], status["sample"]) == (1, 8, 0)
    assert status["progress"] == 1.0
    two = Job(req, samples=2, steps=0)
    two.on_step({"i": 0, "steps": 2, "sample": 5, "samples": 8})  # sample 2 of view 3
    s = two.status()
    assert (s["samples"], s["views"], s["sample"]) == (2, 4, 1)
    assert s["progress"] == round(11 / 16, 4)
