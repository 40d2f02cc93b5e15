"""Visual comparison of a candidate image against its baseline.

Pure numpy: RGBA uint8 arrays in, numbers and masks out. Decoding, thumbnails and uploads
live in ``bot/``.
"""

from gates.visual.gate import VisualComparison, VisualDiffGate, compare_pixels

__all__ = ["VisualComparison", "VisualDiffGate", "compare_pixels"]
