"""Bounding boxes of clusters of changed pixels, for reviewers and thumbnails.

Changed pixels closer than about one block (8 px) belong to the same cluster: the mask is
reduced to an 8×8 block grid, blocks are joined 8-connected, and each cluster's box is then
tightened to its actual changed pixels. Working on the block grid keeps labelling cheap at
12 MP and stops one noisy edge from turning into hundreds of one-pixel boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

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


def changed_boxes(mask: npt.NDArray[np.bool_], limit: int = MAX_BOXES) -> tuple[list[Box], int]:
    """(the largest ``limit`` clusters by changed pixels, biggest first; total number of clusters)."""
    if not mask.any():
        return [], 0
    counts = _block_grid(mask)
    labelled: Any
    labelled, n = ndimage.label(counts > 0, structure=np.ones((3, 3), dtype=bool))
    sizes = np.bincount(labelled.ravel(), weights=counts.ravel(), minlength=n + 1)[1:]
    order = np.argsort(-sizes, kind="stable")[:limit]
    slices = ndimage.find_objects(labelled)
    boxes: list[Box] = []
    h, w = mask.shape
    for k in order:
        sl = slices[int(k)]
        if sl is None:
            continue
        ys, xs = sl
        y0, y1 = ys.start * BLOCK, min(h, ys.stop * BLOCK)
        x0, x1 = xs.start * BLOCK, min(w, xs.stop * BLOCK)
        own = np.repeat(np.repeat(labelled[sl] == k + 1, BLOCK, axis=0), BLOCK, axis=1)
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
