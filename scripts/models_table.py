"""Print the Markdown table of the embedded models' measured quality (for the README).

python scripts/models_table.py
"""

from __future__ import annotations

from finalize_embedded import CLEAR_MARGIN_DB

from irsde.weights import available_models


def main() -> None:
    print(
        "| task | model | size | default sampler | degradation | input | irsde | best classical |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for e in available_models():
        s = e.sampler or {}
        ens = int(s.get("ensemble") or 1)
        setting = f"{s.get('name')} {s.get('steps')} NFE" + (f" x{ens} views" if ens > 1 else "")
        for deg, d in (e.metrics.get("by_degradation") or {}).items():
            inp = f"{d['input_psnr_y']:.2f}" if d.get("input_psnr_y") is not None else "-"
            best = d.get("best_classical_psnr_y")
            mine = d["model"]["psnr_y"]
            mark = "**" if best is None or mine > best + CLEAR_MARGIN_DB else ""  # clearly better
            print(
                f"| {e.task} | `{e.path.name}` | {e.size_bytes / 1e6:.1f} MB | {setting} "
                f"| {deg} | {inp} | {mark}{mine:.2f}{mark} | {d.get('best_classical')} {best:.2f} |"
            )


if __name__ == "__main__":
    main()
