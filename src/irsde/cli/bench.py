"""``irsde bench``: speed, memory, sampler overhead and NFE-vs-PSNR of the models.

Measures each model (the embedded ones by default) on this machine: time per network
evaluation and per image at each size, for the model's default sampler and the T-step
reference sampler; the extra peak memory of a restore (fresh subprocess); the time a
sampler spends outside the network (a run with a zero-cost network, in % of a real run);
and PSNR/SSIM against NFE per sampler and timestep spacing on the held-out photos.
Writes OUT/bench.json, OUT/bench.md and PNG plots; prints the tables. With --posterior,
also the exact-posterior sampler benchmark (quick settings) in OUT/posterior/.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from ..apps.bench import CURVE_SAMPLERS
    from ..samplers import SAMPLERS, SPACINGS
    from ..tasks import TASKS

    p = sub.add_parser(
        "bench",
        help="speed, memory and NFE-vs-PSNR benchmarks of the models",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    p.add_argument(
        "--tasks",
        nargs="+",
        metavar="TASK",
        choices=TASKS,
        help=f"only these tasks: {_names(TASKS)}",
    )
    p.add_argument("--models", nargs="+", type=Path, metavar="FILE", help="model files")
    p.add_argument("--model-dir", type=Path, metavar="DIR", help="e.g. runs (embedded-*/) ")
    p.add_argument("-o", "--out", type=Path, default=Path("bench-results"), metavar="DIR")
    p.add_argument("--json", type=Path, metavar="FILE", help="JSON path (default OUT/bench.json)")
    p.add_argument("--quick", action="store_true", help="fewer repeats, NFE and spacings")
    p.add_argument("--sizes", nargs="+", type=int, metavar="N", help="image sides (256 512)")
    p.add_argument("--nfe", nargs="*", type=int, metavar="N", help="NFE list (none: no curves)")
    p.add_argument(
        "--samplers", nargs="+", metavar="NAME", choices=SAMPLERS,
        help=f"{_names(SAMPLERS)} (default: {' '.join(CURVE_SAMPLERS)})",
    )  # fmt: skip
    p.add_argument(
        "--spacings", nargs="+", metavar="NAME", choices=SPACINGS,
        help=f"{_names(SPACINGS)} (default: all)",
    )  # fmt: skip
    p.add_argument("--crop", type=int, metavar="N", help="center crop of the photos (0: whole)")
    p.add_argument("--images", metavar="DIR", help="held-out photos (default: bundled samples)")
    p.add_argument("--repeat", type=int, metavar="N", help="timed repeats")
    p.add_argument("--no-reference", action="store_true", help="estimate the T-step timing")
    p.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument(
        "--posterior",
        action="store_true",
        help="also run the exact-posterior sampler benchmark, quick settings "
        "(docs/exact-posterior.md)",
    )
    p.add_argument("--overhead-steps", type=int, metavar="N", help="steps of overhead runs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.set_defaults(func=run)


def _names(names) -> str:
    return ", ".join(names)


def settings_from(args: argparse.Namespace):
    """Bench settings: ``--quick`` defaults, then explicit options."""
    from ..apps.bench import BenchSettings
    from ..sde import DEFAULT_SPACING

    s = BenchSettings()
    if args.quick:
        s = BenchSettings(
            nfes=(1, 2, 5, 10), spacings=(DEFAULT_SPACING,), crop=64, repeat=1,
            reference=False, overhead_steps=20,
        )  # fmt: skip
    for name, attr in (("sizes", "sizes"), ("nfe", "nfes"), ("samplers", "samplers"),
                       ("spacings", "spacings")):  # fmt: skip
        value = getattr(args, name)
        if value is not None:
            setattr(s, attr, tuple(value))
    for name, attr in (
        ("crop", "crop"),
        ("repeat", "repeat"),
        ("overhead_steps", "overhead_steps"),
    ):
        if getattr(args, name) is not None:
            setattr(s, attr, getattr(args, name))
    s.reference = s.reference and not args.no_reference
    s.memory = not args.no_memory
    s.seed = args.seed
    s.images = args.images
    s.posterior = args.posterior
    return s


def run(args: argparse.Namespace) -> int:
    import torch

    from ..apps.bench import (
        find_models,
        format_curves,
        format_posterior,
        format_tables,
        run_bench,
        write_plots,
        write_posterior,
    )
    from ..restore import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    s = settings_from(args)
    device = resolve_device(args.device)
    models = find_models(args.models, args.model_dir, args.tasks)
    t0 = time.perf_counter()
    result = run_bench(models, device, s, log=lambda m: print(f"[bench] {m}", file=sys.stderr))
    result["seconds"] = time.perf_counter() - t0
    result["command"] = "irsde bench " + " ".join(sys.argv[2:] if _from_cli() else [])
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.no_plots:
        result["plots"] = [str(p) for p in write_plots(result, args.out)]
    written = write_posterior(result, args.out, plots=not args.no_plots)
    if "plots" in result:
        result["plots"] += [str(p) for p in written if p.suffix == ".png"]
    tables = format_tables(result) + "\n\n" + format_curves(result)
    if "posterior" in result:
        tables += "\n\n" + format_posterior(result)
    json_path = args.json or args.out / "bench.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    (args.out / "bench.md").write_text(tables + "\n")
    print(tables)
    wrote = [str(json_path), str(args.out / "bench.md")] + (["plots"] if "plots" in result else [])
    print("wrote " + ", ".join(wrote + ([f"{written[0].parent}/"] if written else [])))
    return 0


def _from_cli() -> bool:
    return len(sys.argv) > 1 and sys.argv[1] == "bench"
