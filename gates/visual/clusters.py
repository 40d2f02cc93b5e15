"""Bounding boxes of clusters of changed pixels, for reviewers and thumbnails.

Changed pixels closer than about one block (8 px) belong to the same cluster: the mask is
reduced to an 8×8 block grid, blocks are joined 8-connected, and each cluster's box is then
tightened to its actual changed pixels. Working on the block grid keeps labelling cheap at
12 MP and stops one noisy edge from turning into hundreds of one-pixel boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BLOCK = 8
MAX_BOXES = 50


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    width: int
    height: int
    pixels: int  # changed pixels inside the cluster

    def to_dict(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height, "pixels": self.pixels}


def _block_grid(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """Changed-pixel count per BLOCK×BLOCK cell."""
    h, w = mask.shape
    gh, gw = -(-h // BLOCK), -(-w // BLOCK)
    padded = np.zeros((gh * BLOCK, gw * BLOCK), dtype=np.uint8)
    padded[:h, :w] = mask
    counts: npt.NDArray[np.int64] = padded.reshape(gh, BLOCK, gw, BLOCK).sum(axis=(1, 3), dtype=np.int64)
    return counts


def _label(grid: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.int64], int]:
    """8-connected component labels (1…n, 0 = background) of a small boolean grid.

    Min-label propagation with pointer jumping, all in numpy: the grid is at most ~500×400
    cells, and this spares importing scipy.ndimage (half a second) in every CLI run and worker.
    """
    gh, gw = grid.shape
    big = np.int64(gh * gw)
    labels = np.where(grid, np.arange(gh * gw, dtype=np.int64).reshape(gh, gw), big)
    padded = np.full((gh + 2, gw + 2), big, dtype=np.int64)
    while True:
        padded[1:-1, 1:-1] = labels
        best = labels.copy()
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                np.minimum(best, padded[dy : dy + gh, dx : dx + gw], out=best)
        best = np.where(grid, best, big)
        # Pointer jumping: follow each cell's label to that cell's own label, so long chains
        # collapse in a logarithmic number of rounds instead of one cell per round.
        flat = best.reshape(-1)
        inside = flat < big
        flat[inside] = flat[flat[inside]]
        if np.array_equal(best, labels):
            break
        labels = best
    roots, dense = np.unique(labels[grid], return_inverse=True)
    out = np.zeros((gh, gw), dtype=np.int64)
    out[grid] = dense + 1
    return out, int(roots.size)


def changed_boxes(mask: npt.NDArray[np.bool_], limit: int = MAX_BOXES) -> tuple[list[Box], int]:
    """(the largest ``limit`` clusters by changed pixels, biggest first; total number of clusters)."""
    if not mask.any():
        return [], 0
    counts = _block_grid(mask)
    labelled, n = _label(counts > 0)
    sizes = np.bincount(labelled.ravel(), weights=counts.ravel(), minlength=n + 1)[1:]
    order = np.argsort(-sizes, kind="stable")[:limit]
    boxes: list[Box] = []
    h, w = mask.shape
    for k in order:
        cells_y, cells_x = np.nonzero(labelled == k + 1)
        gy0, gy1 = int(cells_y.min()), int(cells_y.max()) + 1
        gx0, gx1 = int(cells_x.min()), int(cells_x.max()) + 1
        y0, y1 = gy0 * BLOCK, min(h, gy1 * BLOCK)
        x0, x1 = gx0 * BLOCK, min(w, gx1 * BLOCK)
        own = np.repeat(np.repeat(labelled[gy0:gy1, gx0:gx1] == k + 1, BLOCK, axis=0), BLOCK, axis=1)
        region = mask[y0:y1, x0:x1] & own[: y1 - y0, : x1 - x0]
        rows = np.flatnonzero(region.any(axis=1))
        cols = np.flatnonzero(region.any(axis=0))
        boxes.append(
            Box(
                x=x0 + int(cols[0]),
                y=y0 + int(rows[0]),
                width=int(cols[-1] - cols[0] + 1),
                height=int(rows[-1] - rows[0] + 1),
                pixels=int(sizes[k]),
            )
        )
    return boxes, int(n)
