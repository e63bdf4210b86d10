"""Training under faults: kill -9 at random points, a full disk, an unwritable folder.

A killed run resumed with ``--resume`` must end with the same weights as an
uninterrupted run (bitwise, CPU). A failed checkpoint write must stop the run with one
line, keep the previous ``checkpoints/last.pt`` intact and loadable, and leave no temp
files. ``benchmarks/kill_resume.py`` runs the kill test at many more points.
"""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from irsde.cli import main
from irsde.errors import ConfigError
from irsde.train import checkpoint as ckpt_mod
from irsde.train import parse_config
from irsde.train.trainer import train

TINY = {
    "name": "fault",
    "task": "denoise",
    "seed": 5,
    "sde": {"max_sigma": 30, "T": 20},
    "network": {
        "arch": "ConditionalNAFNet",
        "params": {"width": 8, "enc_blocks": [1], "middle_blocks": 1, "dec_blocks": [1]},
    },
    "data": {
        "train": {"source": "deadleaves", "crop": 16, "length": 8, "params": {"sigma": 25}},
        "batch_size": 2,
    },
    "optim": {"lr": 1e-3},
    "ema": {"decay": 0.9},
    "train": {
        "max_steps": 12,
        "log_every": 1,
        "val_every": 4,
        "ckpt_every": 1,
        "val_images": 1,
        "val_sampler": {"steps": 2},
    },
    "sampler": {"steps": 2},
}


#: for in-process fault tests: 4 steps, validation only at the end
SHORT = {**TINY, "train": {**TINY["train"], "max_steps": 4, "val_every": 100}}


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: a tiny network on a busy 2-core machine is 20x faster so."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def write_config(path: Path, cfg: dict = TINY) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def last_weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def temp_files(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob("*.tmp"))


# ------------------------------------------------------------------- kill -9
def spawn_train(cfg: Path, run: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "irsde", "train", str(cfg), "--out", str(run), "--no-progress"]
    return subprocess.Popen(
        [*cmd, *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def run_to_end(cfg: Path, run: Path, *extra: str) -> float:
    """Run training to the end; returns its wall time."""
    t0 = time.perf_counter()
    proc = spawn_train(cfg, run, *extra)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    return time.perf_counter() - t0


def logged_step(run: Path) -> int:
    """The last step in ``metrics.csv`` (one row per step with ``log_every: 1``)."""
    try:
        lines = (run / "metrics.csv").read_text().splitlines()
        return int(lines[-1].split(",")[0]) if len(lines) > 1 else 0
    except (OSError, ValueError, IndexError):
        return 0


def kill_then_resume(cfg: Path, run: Path, at_step: int, delay: float) -> int | None:
    """Start a run, kill -9 it ``delay`` s after it logs step ``at_step``, then resume it.

    Returns the step of the checkpoint the resume started from (None when the run
    ended before the kill).
    """
    proc = spawn_train(cfg, run)
    deadline = time.time() + 180
    while proc.poll() is None and logged_step(run) < at_step and time.time() < deadline:
        time.sleep(0.002)
    time.sleep(delay)
    finished = proc.poll() is not None
    if not finished:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    ckpt = run / "checkpoints" / "last.pt"
    step = torch.load(ckpt, weights_only=True)["state"]["step"] if ckpt.exists() else 0
    run_to_end(cfg, run, *(["--resume"] if step else []))
    return None if finished else step


def test_kill_9_at_random_points_then_resume_is_bitwise_identical(tmp_path):
    cfg = write_config(tmp_path / "c.yml")
    straight = tmp_path / "straight"
    run_to_end(cfg, straight)
    reference = last_weights(straight)
    rng = random.Random(7)
    points = [(rng.randint(1, 11), rng.uniform(0.0, 0.05)) for _ in range(3)]
    kill_steps = []
    for i, (at_step, delay) in enumerate(points):
        run = tmp_path / f"killed{i}"
        kill_steps.append(kill_then_resume(cfg, run, at_step, delay))
        assert same_weights(reference, last_weights(run)), (i, points, kill_steps)
        assert temp_files(run) == [], temp_files(run)
        assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["state"]["step"] == 12
    assert any(s is not None and s < 12 for s in kill_steps), kill_steps


# ------------------------------------------------------------- full disk etc.
def fail_nth(real, n: int, exc: OSError):
    """``real`` wrapped so that its ``n``-th call raises ``exc``."""
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise exc
        return real(*args, **kwargs)

    return wrapper


FAULTS = {
    "enospc_in_torch_save": ("torch", OSError(errno.ENOSPC, "No space left on device")),
    "enospc_in_rename": ("os", OSError(errno.ENOSPC, "No space left on device")),
    "eacces_in_rename": ("os", PermissionError(errno.EACCES, "Permission denied")),
    "erofs_in_torch_save": ("torch", OSError(errno.EROFS, "Read-only file system")),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_checkpoint_write_failure_keeps_last_good_checkpoint(tmp_path, monkeypatch, capsys, fault):
    where, exc = FAULTS[fault]
    if where == "torch":
        monkeypatch.setattr(ckpt_mod.torch, "save", fail_nth(torch.save, 3, exc))
    else:
        monkeypatch.setattr(ckpt_mod.os, "replace", fail_nth(os.replace, 3, exc))
    cfg = write_config(tmp_path / "c.yml", SHORT)
    run = tmp_path / "run"
    rc = main(["train", str(cfg), "--out", str(run), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if "error" in ln]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "cannot write checkpoint" in lines[0] and exc.strerror in lines[0]
    assert "previous checkpoint is kept" in lines[0]
    ck = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert ck["state"]["step"] == 2  # the save of step 3 failed
    assert temp_files(run) == []


def test_full_disk_then_resume_matches_uninterrupted(tmp_path, monkeypatch):
    cfg = parse_config({**TINY, "train": {**TINY["train"], "max_steps": 6, "val_every": 3}})
    train(cfg, tmp_path / "straight")
    with monkeypatch.context() as m:
        exc = OSError(errno.ENOSPC, "No space left on device")
        m.setattr(ckpt_mod.torch, "save", fail_nth(torch.save, 4, exc))
        with pytest.raises(ConfigError, match="No space left"):
            train(cfg, tmp_path / "full")
    train(cfg, tmp_path / "full", resume=True)  # space freed: resume from step 3
    assert same_weights(last_weights(tmp_path / "straight"), last_weights(tmp_path / "full"))
    assert temp_files(tmp_path / "full") == []


def test_full_disk_when_exporting_the_model_is_one_line(tmp_path, monkeypatch, capsys):
    import safetensors.torch

    exc = OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(
        safetensors.torch, "save_file", fail_nth(safetensors.torch.save_file, 1, exc)
    )
    cfg = write_config(tmp_path / "c.yml", {**SHORT, "train": {**SHORT["train"], "max_steps": 2}})
    run = tmp_path / "run"
    rc = main(["train", str(cfg), "--out", str(run), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if "error" in ln]
    assert len(lines) == 1 and "No space left" in lines[0], err
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["state"]["step"] >= 1
    assert temp_files(run) == []


def test_full_disk_when_logging_metrics_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys):
    from irsde.train import logs

    real_open = Path.open

    def open_failing_later(self, *args, **kwargs):
        f = real_open(self, *args, **kwargs)
        if self.name == "metrics.csv" and args and args[0] == "a":
            f.flush = fail_nth(f.flush, 3, OSError(errno.ENOSPC, "No space left on device"))
        return f

    monkeypatch.setattr(logs.Path, "open", open_failing_later)
    cfg = write_config(tmp_path / "c.yml", SHORT)
    run = tmp_path / "run"
    rc = main(["train", str(cfg), "--out", str(run), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if "error" in ln]
    assert len(lines) == 1 and "metrics.csv" in lines[0] and "No space left" in lines[0], err
    ck = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert ck["state"]["step"] >= 1
