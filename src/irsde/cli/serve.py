"""``irsde serve``: the local web demo (a page to restore photos in the browser)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
from pathlib import Path

from ..errors import UsageError

log = logging.getLogger("irsde")

EXTRA_HINT = "the web demo needs extra packages: pip install 'irsde[serve]'"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="start the local web demo (restore photos in the browser)",
        description="Start a local web page to restore photos with the embedded models "
        "(or --model files). Listens on 127.0.0.1 only unless --host says otherwise.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; 0: any free port)")
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests addressed to NAME (the Host header; repeatable; '*': any); "
        "the loopback names and --host are always accepted",
    )
    p.add_argument(
        "--model",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="model file to offer (repeatable); listed after the embedded models",
    )
    p.add_argument(
        "--model-dir",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="offer every .safetensors model in DIR (repeatable)",
    )
    p.add_argument("--no-embedded", action="store_true", help="do not offer the embedded models")
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=20.0,
        metavar="N",
        help="largest upload in MB (default 20)",
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=4_000_000,
        metavar="N",
        help="largest image in pixels (output size for sr4; default 4000000)",
    )
    p.add_argument(
        "--max-steps",
        type=int,
        default=1000,
        metavar="N",
        help="most sampler steps a request may ask for (default 1000)",
    )
    p.add_argument(
        "--max-samples",
        type=int,
        default=8,
        metavar="N",
        help="most posterior samples per request (default 8)",
    )
    p.add_argument(
        "--queue-limit",
        type=int,
        default=4,
        metavar="N",
        help="restorations queued or running at once; more get 503 (default 4)",
    )
    p.add_argument(
        "--result-ttl",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="how long results are kept (default 900)",
    )
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, mps or auto")
    p.add_argument("--tile", type=int, default=512, help="tile side in pixels (0: no tiling)")
    p.set_defaults(func=run)


def _check_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UsageError(EXTRA_HINT) from None


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def run(args: argparse.Namespace) -> int:
    _check_extra()
    import uvicorn

    from ..web import Settings
    from ..web.app import bind_socket, create_app

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be in 0..65535, got {args.port}")
    settings = Settings(
        model_paths=list(args.model),
        model_dirs=list(args.model_dir),
        include_embedded=not args.no_embedded,
        max_upload_mb=args.max_upload_mb,
        max_pixels=args.max_pixels,
        max_steps=args.max_steps,
        max_samples=args.max_samples,
        queue_limit=args.queue_limit,
        result_ttl=args.result_ttl,
        device=args.device,
        tile=args.tile,
        allowed_hosts=[args.host, *args.allow_host],
    )
    app = create_app(settings)
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as err:
        app.state.demo.close()
        raise UsageError(
            f"cannot listen on {args.host}:{args.port}: {err.strerror or err}"
        ) from None
    host, port = sock.getsockname()[:2]
    if not _is_loopback(host):
        log.warning("listening on %s: anyone who can reach this machine can use the demo", host)
    shown = f"[{host}]" if ":" in host else host
    names = ", ".join(app.state.demo.registry.models)
    log.info("irsde web demo on http://%s:%d/ (models: %s); Ctrl-C stops it", shown, port, names)
    quiet = getattr(args, "quiet", False)
    config = uvicorn.Config(app, log_level="warning" if quiet else "info", lifespan="on")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after a clean shutdown
        log.info("irsde web demo stopped")
    finally:
        sock.close()
        app.state.demo.close()
    return 0
