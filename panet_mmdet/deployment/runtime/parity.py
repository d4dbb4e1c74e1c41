"""Compare two detectors' outputs on the same image, one detection at a time.

Pure numpy, so ONNX Runtime results and PyTorch results (converted with
``.numpy()``) go through the same check in the tools and the tests.
"""
from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``(n, 4)`` and ``(m, 4)`` x1, y1, x2, y2 boxes: ``(n, m)``."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    union = area_a[:, None] + area_b[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12),
                    (inter == union).astype(np.float64))


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


@dataclass
class ParityReport:
    """How well ``test`` reproduces ``reference``.

    Only detections scoring at least ``score_min`` are required to match
    (below it, float noise may legitimately reorder near-ties at the
    thresholds); a test detection above ``score_min + score_tol`` with no
    partner is an extra.
    """
    num_reference: int
    num_test: int
    matched: int
    unmatched_reference: List[int] = field(default_factory=list)
    extra_test: List[int] = field(default_factory=list)
    max_score_diff: float = 0.0
    min_box_iou: float = 1.0
    mask_ious: List[float] = field(default_factory=list)

    @property
    def mean_mask_iou(self) -> float:
        return float(np.mean(self.mask_ious)) if self.mask_ious else 1.0

    @property
    def min_mask_iou(self) -> float:
        return float(np.min(self.mask_ious)) if self.mask_ious else 1.0

    def ok(self, min_mask_iou: float = 0.98) -> bool:
        return (not self.unmatched_reference and not self.extra_test
                and self.min_mask_iou >= min_mask_iou)

    def summary(self) -> str:
        text = (f'{self.matched}/{self.num_reference} reference detections '
                f'matched ({self.num_test} in the test output), max |score '
                f'difference| {self.max_score_diff:.2e}, min box IoU '
                f'{self.min_box_iou:.4f}')
        if self.mask_ious:
            text += (f', mask IoU mean {self.mean_mask_iou:.4f} min '
                     f'{self.min_mask_iou:.4f}')
        if self.unmatched_reference:
            text += f'; UNMATCHED reference {self.unmatched_reference}'
        if self.extra_test:
            text += f'; EXTRA test detections {self.extra_test}'
        return text


def compare_detections(reference: Dict[str, np.ndarray],
                       test: Dict[str, np.ndarray],
                       score_min: float = 0.05,
                       box_iou_min: float = 0.99,
                       score_tol: float = 1e-3) -> ParityReport:
    """Match detections one to one: same label, box IoU >= ``box_iou_min``,
    ``|score difference| <= score_tol``; best reference detections first.

    Args:
        reference, test: ``bboxes (n, 4)``, ``scores (n,)``, ``labels (n,)``
            and optionally ``masks (n, h, w)`` bool, in the same frame.
    """
    ref_order = np.argsort(-reference['scores'], kind='stable')
    used = np.zeros(len(test['scores']), bool)
    ious = box_iou(reference['bboxes'].astype(np.float64),
                   test['bboxes'].astype(np.float64))
    report = ParityReport(len(reference['scores']), len(test['scores']), 0)
    for i in ref_order:
        if reference['scores'][i] < score_min:
            continue
        ok = ((test['labels'] == reference['labels'][i]) & ~used
              & (ious[i] >= box_iou_min)
              & (np.abs(test['scores'] - reference['scores'][i]) <= score_tol))
        if not ok.any():
            report.unmatched_reference.append(int(i))
            continue
        j = int(np.argmax(np.where(ok, ious[i], -1.)))
        used[j] = True
        report.matched += 1
        report.max_score_diff = max(
            report.max_score_diff,
            float(abs(test['scores'][j] - reference['scores'][i])))
        report.min_box_iou = min(report.min_box_iou, float(ious[i, j]))
        if 'masks' in reference and 'masks' in test:
            report.mask_ious.append(
                mask_iou(reference['masks'][i], test['masks'][j]))
    extra = ~used & (test['scores'] >= score_min + score_tol)
    report.extra_test = [int(j) for j in np.nonzero(extra)[0]]
    return report
