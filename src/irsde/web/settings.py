"""Settings of the web demo (plain data, no FastAPI import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError


@dataclass(frozen=True)
class Pace:
    """How slowly a request body may arrive: the longest silence, the longest upload (s),
    and the least average rate (bytes/s) once the first ``idle`` seconds have passed."""

    idle: float = 10.0
    total: float = 300.0
    min_rate: float = 16_000.0


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
        allowed_hosts: names accepted in the ``Host`` header besides the loopback ones
            (``--host`` and ``--allow-host``; ``"*"``: any name).
        upload_idle_timeout: seconds an upload may send nothing before it is dropped (408).
        upload_timeout: seconds a whole upload may take (408 beyond).
        upload_min_rate: least average upload rate in bytes/s after the first
            ``upload_idle_timeout`` seconds (408 below): idle clients do not hold slots.
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
    allowed_hosts: list[str] = field(default_factory=list)
    upload_idle_timeout: float = 10.0
    upload_timeout: float = 300.0
    upload_min_rate: float = 16_000.0

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
            "upload_idle_timeout": 0 < self.upload_idle_timeout <= self.upload_timeout,
            "upload_timeout": 0 < self.upload_timeout < 86400,
            "upload_min_rate": self.upload_min_rate >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise UsageError(
                f"serve settings must be positive (timeouts: idle <= total): {', '.join(bad)}"
            )

    @property
    def pace(self) -> Pace:
        """The upload deadlines."""
        return Pace(self.upload_idle_timeout, self.upload_timeout, self.upload_min_rate)

    @property
    def host_names(self) -> frozenset[str]:
        """Names accepted in the ``Host`` header."""
        from .guard import host_names

        return host_names(self.allowed_hosts)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)
