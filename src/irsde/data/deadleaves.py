"""Dead-leaves images: a data-free source of clean training images.

Random opaque shapes ("leaves") fall on top of each other; the image shows the frontmost
one at each pixel. With a ``r^-3`` radius density the result is scale invariant, like
natural images (power-law spectrum, occlusion edges at every scale).

Rendering is vectorised: all shapes are drawn in one batch, each pixel takes the
frontmost shape covering its centre (a z-buffer filled with ``np.minimum.at`` over the
pixels of the shapes' bounding boxes), fills are shaded with per-shape gradients and
low-frequency noise, edges are anti-aliased from the analytic signed distance to the
shapes' outlines, and the image is slightly blurred (depth of field).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from ..degrade import gaussian_blur, smooth_field

__all__ = ["dead_leaves", "palette_from_images", "sample_palette"]

#: kinds of leaves: disks and convex polygons (rectangles are 4-gons)
SHAPES = ("disk", "rect", "polygon")
_MAX_SIDES = 6


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    i = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack(
        [
            np.stack([v, t, p], -1),
            np.stack([q, v, p], -1),
            np.stack([p, v, t], -1),
            np.stack([p, q, v], -1),
            np.stack([t, p, v], -1),
            np.stack([v, p, q], -1),
        ],
        0,
    )
    return table[i, np.arange(len(h))]


def sample_palette(n: int, rng: np.random.Generator, palette: np.ndarray | None = None):
    """``n`` colours: rows of ``palette`` (``K x 3``) if given, else natural-looking HSV
    draws (any hue, mostly low saturation, mid-to-bright values)."""
    if palette is not None:
        return np.asarray(palette, dtype=np.float32)[rng.integers(0, len(palette), n)]
    h = rng.random(n)
    s = rng.beta(1.2, 3.5, n)
    v = rng.beta(2.2, 1.6, n) * 0.95 + 0.03
    return _hsv_to_rgb(h, s, v).astype(np.float32)


def palette_from_images(images: Sequence[np.ndarray], n: int = 4096, seed: int = 0) -> np.ndarray:
    """An ``n x 3`` palette sampled from the pixels of example photos (their colour
    histogram), for ``dead_leaves(palette=...)``."""
    rng = np.random.default_rng(seed)
    pix = np.concatenate([np.asarray(im, dtype=np.float32).reshape(-1, 3) for im in images])
    return pix[rng.integers(0, len(pix), n)]


@functools.lru_cache(maxsize=1)
def _sample_photos_palette() -> np.ndarray:
    from ..io import read_image, sample_images_dir

    photos = [read_image(p) for p in sorted(sample_images_dir().glob("*.png"))]
    return palette_from_images(photos)


def _radii(n: int, rng: np.random.Generator, rmin: float, rmax: float) -> np.ndarray:
    """Inverse-CDF draws from the density ``p(r) ~ r^-3`` on ``[rmin, rmax]``."""
    u = rng.random(n)
    return (rmin**-2 - u * (rmin**-2 - rmax**-2)) ** -0.5


def _polygon_edges(kind: np.ndarray, r: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Half-planes ``a x + b y + c <= 0`` (``N x 6 x 3``, unit normals) of convex polygons inscribed in
    circles of radius ``r`` around the origin; unused slots are always true."""
    n = len(r)
    sides = np.where(kind == 1, 4, rng.integers(3, _MAX_SIDES + 1, n))
    ang = np.sort(rng.uniform(0, 2 * np.pi, (n, _MAX_SIDES)), axis=1)
    # rectangles: vertices at +-phi and pi +- phi, rotated
    phi = rng.uniform(0.2, 0.6 * np.pi / 2, n)[:, None]
    rot = rng.uniform(0, np.pi, n)[:, None]
    rect = np.concatenate([phi, np.pi - phi, np.pi + phi, 2 * np.pi - phi], 1) + rot
    ang[kind == 1, :4] = rect[kind == 1]
    slot = np.arange(_MAX_SIDES)[None, :]
    used = slot < sides[:, None]
    # unused slots repeat the first vertex, so the polygon closes there
    ang = np.where(used, ang, ang[:, :1])
    vx, vy = r[:, None] * np.cos(ang), r[:, None] * np.sin(ang)
    nxt = np.where(slot + 1 < sides[:, None], slot + 1, 0)
    wx = np.take_along_axis(vx, nxt, 1)
    wy = np.take_along_axis(vy, nxt, 1)
    # counter-clockwise order: inside is to the left of each edge v -> w
    a, b = wy - vy, vx - wx
    norm = np.maximum(np.hypot(a, b), 1e-9)
    a, b = a / norm, b / norm
    c = -(a * vx + b * vy)
    edges = np.stack([a, b, c], -1)
    edges[~used] = (0.0, 0.0, -1e6)
    return edges


def _bbox_pixels(cx, cy, r, h, w):
    """All (shape, y, x) whose pixel centre lies in a shape's clipped bounding box."""
    x0 = np.clip(np.ceil(cx - r - 0.5), 0, w).astype(np.int64)
    x1 = np.clip(np.floor(cx + r - 0.5) + 1, x0, w).astype(np.int64)
    y0 = np.clip(np.ceil(cy - r - 0.5), 0, h).astype(np.int64)
    y1 = np.clip(np.floor(cy + r - 0.5) + 1, y0, h).astype(np.int64)
    bw, bh = x1 - x0, y1 - y0
    counts = bw * bh
    sid = np.repeat(np.arange(len(r)), counts)
    off = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    bws = np.maximum(bw, 1)[sid]
    return sid, y0[sid] + off // bws, x0[sid] + off % bws


class _Leaves:
    """Shape parameters; the last entry is the background leaf behind them all."""

    def __init__(self, cx, cy, r, kind, edges):
        self.cx, self.cy, self.r = (np.asarray(a, dtype=np.float32) for a in (cx, cy, r))
        self.kind = kind
        # per edge slot: contiguous (a, b, c) arrays over the leaves
        self.edges_by_slot = [
            tuple(np.ascontiguousarray(edges[:, k, j], dtype=np.float32) for j in range(3))
            for k in range(edges.shape[1])
        ]

    def signed_distance(self, sid: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """Distance of ``(dx, dy)`` (relative to the centre) inside shape ``sid`` (< 0 outside;
        for polygons, exact from -0.5 up, below that only a bound)."""
        sd = self.r[sid] - np.sqrt(dx * dx + dy * dy)
        # a polygon lies inside its circle: only points near or in the circle need its edges
        poly = (self.kind[sid] > 0) & (sd > -0.5)
        if poly.any():
            ps, px, py = sid[poly], dx[poly], dy[poly]
            worst = np.full(len(ps), -np.inf, dtype=np.float32)
            for k in range(_MAX_SIDES):
                a, b, c = self.edges_by_slot[k]
                np.maximum(worst, a[ps] * px + b[ps] * py + c[ps], out=worst)
            sd[poly] = -worst
        return sd

    def at(self, sid: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.signed_distance(sid, x - self.cx[sid], y - self.cy[sid])


def _zbuffer(h: int, w: int, leaves: _Leaves) -> np.ndarray:
    """Index of the frontmost leaf covering each pixel centre (the background where none)."""
    n = len(leaves.r) - 1
    sid, py, px = _bbox_pixels(leaves.cx[:n], leaves.cy[:n], leaves.r[:n], h, w)
    inside = leaves.at(sid, px.astype(np.float32) + 0.5, py.astype(np.float32) + 0.5) >= 0
    z = np.full(h * w, n, dtype=np.int64)
    np.minimum.at(z, py[inside] * w + px[inside], sid[inside])
    return z.reshape(h, w)


def _antialias(label: np.ndarray, color: np.ndarray, leaves: _Leaves) -> np.ndarray:
    """Blend each pixel with its 4 neighbours by the analytic coverage of the leaves.

    A pixel keeps ``a = 0.5 + d`` of its own leaf (``d``: signed distance of its centre to
    the leaf's edge, ``a`` in ``[0.5, 1]``), the rest from neighbours behind it; a leaf in
    front that reaches in from a neighbour covers ``0.5 + d`` (``d < 0``) of the pixel.
    """
    h, w = label.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + np.float32(0.5)
    own = np.clip(0.5 + leaves.at(label, xx, yy), 0.5, 1.0)[..., None]
    lp = np.pad(label, 1, mode="edge")
    cp = np.pad(color, ((1, 1), (1, 1), (0, 0)), mode="edge")
    behind_sum = np.zeros_like(color)
    behind_n = np.zeros((h, w, 1), dtype=np.float32)
    front_cov = np.zeros((h, w, 1), dtype=np.float32)
    front_col = np.zeros_like(color)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        nl = lp[dy : dy + h, dx : dx + w]
        nc = cp[dy : dy + h, dx : dx + w]
        behind = (nl > label)[..., None]
        behind_sum += behind * nc
        behind_n += behind
        cov = np.clip(0.5 + leaves.at(nl, xx, yy), 0.0, 0.5)[..., None] * (nl < label)[..., None]
        better = cov > front_cov
        front_cov = np.where(better, cov, front_cov)
        front_col = np.where(better, nc, front_col)
    mixed = np.where(
        behind_n > 0, own * color + (1 - own) * behind_sum / np.maximum(behind_n, 1), color
    )
    return (1 - front_cov) * mixed + front_cov * front_col


def _count_for_coverage(area: float, rmin: float, rmax: float, coverage: float) -> int:
    """Number of leaves whose expected total area gives ``coverage`` of the image."""
    mean_area = 2 * np.pi * math.log(rmax / rmin) / (rmin**-2 - rmax**-2) * 0.8
    return max(8, int(-math.log(1 - coverage) * area / mean_area))


def dead_leaves(
    size: int | tuple[int, int],
    rng: np.random.Generator,
    *,
    rmin: float = 1.5,
    rmax: float | None = None,
    shapes: Sequence[str] = SHAPES,
    shape_probs: Sequence[float] | None = None,
    palette: np.ndarray | str | None = None,
    texture: float = 0.25,
    blur: tuple[float, float] = (0.0, 0.8),
    coverage: float = 0.995,
) -> np.ndarray:
    """A dead-leaves image, ``H x W x 3`` float32 in ``[0, 1]``.

    Args:
        size: ``S`` (square) or ``(H, W)``.
        rng: the random generator; the same seed gives the same image.
        rmin, rmax: radius range in output pixels (``rmax`` default: ``max(H, W) / 2``),
            density ``r^-3``.
        shapes: leaf kinds among ``disk``, ``rect``, ``polygon`` (convex 3..6-gons);
            ``shape_probs`` their probabilities (default: half disks, the rest evenly).
        palette: ``None`` (HSV draws), ``"samples"`` (the colours of the bundled sample
            photos) or a ``K x 3`` array of colours (see :func:`palette_from_images`).
        texture: strength of the fills' shading (linear gradients and low-frequency noise).
        blur: range of the final Gaussian blur sigma in pixels (depth of field).
        coverage: expected fraction covered by the drawn leaves; the rest shows a
            background leaf behind them all.
    """
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    rmax_ = float(rmax if rmax is not None else max(h, w) / 2)
    rmin_ = float(min(rmin, rmax_))
    kinds = [SHAPES.index(s) for s in shapes]
    if shape_probs is None:
        shape_probs = (
            [1.0] if len(kinds) == 1 else [0.5] + [0.5 / (len(kinds) - 1)] * (len(kinds) - 1)
        )
    probs = np.asarray(shape_probs, dtype=np.float64)
    if isinstance(palette, str):
        if palette != "samples":
            raise ValueError(f"palette must be None, 'samples' or an array, not {palette!r}")
        palette = _sample_photos_palette()

    n = _count_for_coverage(h * w, rmin_, rmax_, coverage)
    r = _radii(n, rng, rmin_, rmax_)
    cx, cy = rng.uniform(0, w, n), rng.uniform(0, h, n)
    kind = np.asarray(kinds)[rng.choice(len(kinds), n, p=probs / probs.sum())]
    edges = _polygon_edges(kind, r, rng)
    # the background leaf: a huge disk behind everything
    leaves = _Leaves(
        np.append(cx, w / 2),
        np.append(cy, h / 2),
        np.append(r, 1e6),
        np.append(kind, 0),
        np.concatenate([edges, np.zeros((1, _MAX_SIDES, 3))]),
    )
    label = _zbuffer(h, w, leaves)
    color = _shade(label, leaves, sample_palette(n + 1, rng, palette), texture, rng)
    img = _antialias(label, color, leaves)
    sigma = rng.uniform(*blur) if blur[1] > 0 else 0.0
    return np.clip(gaussian_blur(img, sigma), 0.0, 1.0).astype(np.float32)


def _shade(
    label: np.ndarray,
    leaves: _Leaves,
    colors: np.ndarray,
    texture: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Each leaf's colour times a shading: a random linear gradient across the leaf plus
    coarse and fine low-frequency noise, each of strength ``~ texture``."""
    h, w = label.shape
    m = len(colors)
    grad = rng.normal(0, texture, (m, 2)).astype(np.float32)
    amp = rng.normal(0, texture, (m, 2)).astype(np.float32)
    scale = np.minimum(leaves.r, max(h, w) / 2)
    coarse = smooth_field((h, w), rng, cells=3, octaves=2) - 0.5
    fine = smooth_field((h, w), rng, cells=max(4, max(h, w) // 6), octaves=1) - 0.5
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rel_x = (xx - leaves.cx[label]) / scale[label]
    rel_y = (yy - leaves.cy[label]) / scale[label]
    shade = (
        1.0
        + grad[label, 0] * rel_x
        + grad[label, 1] * rel_y
        + amp[label, 0] * coarse
        + amp[label, 1] * fine
    )
    return colors[label] * shade[..., None].astype(np.float32)
