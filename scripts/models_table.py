"""Print the Markdown table of the embedded models' measured quality (for the README).

python scripts/models_table.py
"""

from __future__ import annotations

from finalize_embedded import beats

from irsde.classical import baseline_label
from irsde.weights import available_models


def main() -> None:
    print(
        "| task | model | size | default sampler | degradation | input | irsde "
        "| best classical | best blind classical |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for e in available_models():
        s = e.sampler or {}
        ens = int(s.get("ensemble") or 1)
        setting = f"{s.get('name')} {s.get('steps')} NFE" + (f" x{ens} views" if ens > 1 else "")
        for deg, d in (e.metrics.get("by_degradation") or {}).items():
            inp = f"{d['input_psnr_y']:.2f}" if d.get("input_psnr_y") is not None else "-"
            mine = d["model"]["psnr_y"]
            # bold: clearly better than every baseline; italic: than the blind ones
            mark = "**" if beats(d) else "*" if beats(d, "best_blind") else ""
            print(
                f"| {e.task} | `{e.path.name}` | {e.size_bytes / 1e6:.1f} MB | {setting} "
                f"| {deg} | {inp} | {mark}{mine:.2f}{mark} | {_best(d, 'best_classical')} "
                f"| {_best(d, 'best_blind')} |"
            )


def _best(d: dict, field: str) -> str:
    """``method PSNR-Y`` of the best baseline in ``field``."""
    if d.get(field) is None:
        return "-"
    return f"{baseline_label(d[field])} {d[f'{field}_psnr_y']:.2f}"


if __name__ == "__main__":
    main()
