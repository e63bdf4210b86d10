"""kill -9 a tiny training run at many random points; check every resume is bitwise exact.

One uninterrupted reference run, then ``--kills`` runs, each killed with SIGKILL at a
random point (a random step, plus a random delay so that kills land inside steps,
validations and checkpoint writes) and resumed with ``--resume`` (restarted from
scratch when killed before its first checkpoint), until it finishes. Each final
``checkpoints/last.pt`` must equal the reference's bitwise, and no temp file may be
left. Prints ``N kills, M identical``; exits 1 unless all are identical. Not in CI::

    .venv/bin/python benchmarks/kill_resume.py [--kills 20] [--steps 12] [--seed 0]
        [--kills-per-run 1] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml


def config(steps: int) -> dict:
    return {
        "name": "kill-resume",
        "task": "denoise",
        "seed": 11,
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
            "max_steps": steps,
            "log_every": 1,
            "val_every": 4,
            "ckpt_every": 1,
            "val_images": 1,
            "val_sampler": {"steps": 2},
        },
        "sampler": {"steps": 2},
    }


def spawn(cfg: Path, run: Path, resume: bool) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "irsde", "train", str(cfg), "--out", str(run), "--no-progress"]
    if resume:
        cmd.append("--resume")
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def logged_step(run: Path) -> int:
    try:
        lines = (run / "metrics.csv").read_text().splitlines()
        return int(lines[-1].split(",")[0]) if len(lines) > 1 else 0
    except (OSError, ValueError, IndexError):
        return 0


def checkpoint_step(run: Path) -> int:
    path = run / "checkpoints" / "last.pt"
    return torch.load(path, weights_only=True)["state"]["step"] if path.exists() else 0


def finish(proc: subprocess.Popen) -> None:
    out, _ = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"training failed (exit {proc.returncode}):\n{out.decode()[-2000:]}")


def weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]


def killed_run(cfg: Path, run: Path, steps: int, kills: int, rng: random.Random) -> list[dict]:
    """Run to the end with ``kills`` SIGKILLs at random points; one record per kill."""
    records = []
    for _ in range(kills):
        start = checkpoint_step(run)
        if start >= steps:
            break
        # metrics.csv still holds the rows of the killed run until the resume truncates
        # it: aim past them, or kill during start-up when nothing is left to aim at
        floor = max(start, logged_step(run))
        at = rng.randint(floor + 1, steps - 1) if floor + 1 <= steps - 1 else None
        delay = rng.uniform(0.0, 0.08)
        proc = spawn(cfg, run, resume=start > 0)
        while proc.poll() is None and at is not None and logged_step(run) < at:
            time.sleep(0.002)
        time.sleep(delay)
        if proc.poll() is not None:
            finish(proc)
            records.append({"at_step": at, "delay": delay, "killed": False})
            continue
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        records.append(
            {
                "at_step": at,
                "delay": round(delay, 4),
                "killed": True,
                "checkpoint_step": checkpoint_step(run),
            }
        )
    if checkpoint_step(run) < steps:
        finish(spawn(cfg, run, resume=checkpoint_step(run) > 0))
    return records


def _where(at_step: int | None) -> str:
    return "during start-up" if at_step is None else f"after step {at_step}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20, help="runs to kill")
    ap.add_argument("--kills-per-run", type=int, default=1)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="write the per-kill records here")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="irsde-kill-"))
    cfg = work / "config.yml"
    cfg.write_text(yaml.safe_dump(config(args.steps)))
    t0 = time.perf_counter()
    finish(spawn(cfg, work / "reference", resume=False))
    reference = weights(work / "reference")
    kills = identical = 0
    results = []
    for i in range(args.kills):
        run = work / f"run{i:03d}"
        records = killed_run(cfg, run, args.steps, args.kills_per_run, rng)
        got = weights(run)
        same = all(torch.equal(reference[k], got[k]) for k in reference)
        clean = not list(run.rglob("*.tmp"))
        n = sum(r["killed"] for r in records)
        kills += n
        identical += n if same and clean else 0
        results.append({"run": i, "kills": records, "identical": same, "no_temp_files": clean})
        points = ", ".join(
            f"{_where(r['at_step'])} +{r['delay'] * 1000:.0f} ms (resumed from step "
            f"{r['checkpoint_step']})"
            for r in records
            if r["killed"]
        )
        print(
            f"run {i}: killed {points or 'never (finished first)'}: "
            f"{'identical' if same else 'DIFFERENT'}{'' if clean else ', temp files left'}"
        )
    secs = time.perf_counter() - t0
    print(f"{kills} kills, {identical} identical ({secs:.0f} s, {args.steps} steps per run)")
    if args.json:
        args.json.write_text(
            json.dumps({"kills": kills, "identical": identical, "runs": results}, indent=2)
        )
    return 0 if identical == kills else 1


if __name__ == "__main__":
    sys.exit(main())
