"""Settings of the web demo (plain data, no FastAPI import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError


@dataclass
class Settings:
    """What ``irsde serve`` can be told; every limit protects the machine it runs on.

    Attributes:
        model_paths: extra model files (``--model``), listed after the embedded ones.
        model_dirs: folders whose ``*.safetensors`` files are offered (``--model-dir``).
        include_embedded: offer the embedded per-task models.
        max_upload_mb: largest accepted upload, in MB (10^6 bytes).
        max_pixels: largest image (input pixels, times 16 for x4 super-resolution).
        max_steps: most sampler steps a request may ask for.
        max_samples: most posterior samples a request may ask for.
        queue_limit: jobs waiting or running at once; beyond it requests get 503.
        max_uploads: uploads received at once; beyond it requests get 503.
        result_ttl: seconds a finished job (and its images) is kept.
        max_results: finished jobs kept at most (oldest dropped first).
        max_results_mb: memory for finished jobs' images, in MB (oldest dropped first).
        device: ``cpu``, ``cuda``, ``mps`` or ``auto``.
        tile: tile side for the network (bounded memory on large images).
        temp_dir: parent of the server's temporary upload folder (default: system temp).
    """

    model_paths: list[Path] = field(default_factory=list)
    model_dirs: list[Path] = field(default_factory=list)
    include_embedded: bool = True
    max_upload_mb: float = 20.0
    max_pixels: int = 4_000_000
    max_steps: int = 1000
    max_samples: int = 8
    queue_limit: int = 4
    max_uploads: int = 4
    result_ttl: float = 900.0
    max_results: int = 32
    max_results_mb: float = 256.0
    device: str = "auto"
    tile: int = 512
    temp_dir: Path | None = None

    def __post_init__(self) -> None:
        checks = {
            "max_upload_mb": self.max_upload_mb > 0,
            "max_pixels": self.max_pixels > 0,
            "max_steps": self.max_steps >= 1,
            "max_samples": self.max_samples >= 1,
            "queue_limit": self.queue_limit >= 1,
            "max_uploads": self.max_uploads >= 1,
            "result_ttl": self.result_ttl > 0,
            "max_results": self.max_results >= 1,
            "max_results_mb": self.max_results_mb > 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise UsageError(f"serve settings must be positive: {', '.join(bad)}")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)
