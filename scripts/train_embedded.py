"""Retrain one embedded model: every phase of ``configs/embedded/phases.yml``, then export,
measure and document it.

    python scripts/train_embedded.py denoise            # all phases, export, quality, card
    python scripts/train_embedded.py dehaze --train-only

A phase whose run folder holds ``final.safetensors`` is skipped; one with a checkpoint is
resumed. A model started from another task's weights (``from:`` in phases.yml) trains
that task's phases up to them first. Phases marked ``device: cuda`` stop here without a GPU unless ``--allow-cpu``.
Several tasks train side by side as separate processes (``... denoise & ... sr4 &``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PHASES = REPO / "configs" / "embedded" / "phases.yml"


def load_phases(task: str, path: Path = PHASES, _after: tuple[str, ...] = ()) -> list[dict]:
    """The phases of ``task``'s shipped model, oldest first.

    A first phase marked ``from: OTHER`` starts from a run of task OTHER's phases (its
    ``network.init``): OTHER's phases up to that run come first, each with ``task: OTHER``.
    """
    if task in _after:
        raise SystemExit(f"{path}: the phases of {task!r} start from their own weights")
    table = yaml.safe_load(path.read_text())
    if task not in table:
        raise SystemExit(f"{path}: no phases for task {task!r} (tasks: {', '.join(table)})")
    phases = [dict(p) for p in table[task]]
    other = phases[0].get("from")
    if other is None:
        return phases
    config = yaml.safe_load((path.parent / phases[0]["config"]).read_text())
    start = Path(config["network"]["init"]).parent.name
    before = load_phases(other, path, (*_after, task))
    runs = [p["run"] for p in before]
    if start not in runs:
        raise SystemExit(f"{path}: {phases[0]['config']} starts from {start}, not a {other} phase")
    return [{"task": other, **p} for p in before[: runs.index(start) + 1]] + phases


def run_phase(phase: dict, configs: Path, runs: Path, allow_cpu: bool) -> None:
    """Train one phase into ``runs/<run>`` unless it finished; resume it if it started."""
    out = runs / phase["run"]
    if (out / "final.safetensors").exists():
        print(f"{phase['run']}: finished, skipped")
        return
    if phase.get("device") == "cuda" and not allow_cpu:
        import torch

        if not torch.cuda.is_available():
            raise SystemExit(
                f"{phase['config']}: this phase was trained on a GPU and none is here "
                "(--allow-cpu runs it anyway, within its time budget)"
            )
    cmd = [sys.executable, "-m", "irsde", "train", str(configs / phase["config"])]
    cmd += ["--out", str(out), "--no-progress"]
    if (out / "checkpoints" / "last.pt").exists():
        cmd.append("--resume")
    log = runs / f"log-{phase['run']}.txt"
    print(f"{phase['run']}: training ({' '.join(cmd[2:])}), log {log}")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as f:
        if subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO).returncode:
            raise SystemExit(f"{phase['run']}: training failed, see {log}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("task")
    ap.add_argument("--train-only", action="store_true", help="no export, quality or card")
    ap.add_argument("--allow-cpu", action="store_true", help="run GPU phases on the CPU")
    ap.add_argument("--phases", type=Path, default=PHASES, help="configs: relative to it")
    ap.add_argument("--runs", type=Path, default=REPO / "runs", help="run folders")
    args = ap.parse_args()
    phases = load_phases(args.task, args.phases)
    for phase in phases:
        run_phase(phase, args.phases.parent, args.runs, args.allow_cpu)
    if args.train_only:
        return
    py, quality = sys.executable, args.runs / f"quality-{args.task}.json"
    last = ["--run", str(args.runs / phases[-1]["run"])]
    steps = [
        [py, "scripts/finalize_embedded.py", "export", args.task, *last],
        [py, "benchmarks/quality.py", "--tasks", args.task, "--json", str(quality),
         "--md", str(quality.with_suffix(".md"))],
        [py, "scripts/finalize_embedded.py", "card", args.task, "--quality", str(quality), *last],
    ]  # fmt: skip
    for cmd in steps:
        subprocess.run(cmd, cwd=REPO, check=True)


if __name__ == "__main__":
    main()
