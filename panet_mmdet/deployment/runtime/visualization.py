"""Detections drawn on the image, in the style of mmdet's visualizer."""
from typing import Dict, List, Tuple

import cv2
import numpy as np


def draw_detections(image: np.ndarray,
                    result: Dict[str, np.ndarray],
                    classes: List[str],
                    palette: List[Tuple[int, int, int]],
                    score_thr: float = 0.3) -> np.ndarray:
    """Masks (50% tint), boxes and ``class: score`` labels on a BGR copy,
    in the style of mmdet's ``DetLocalVisualizer``. ``palette`` is RGB."""
    canvas = image.copy()
    keep = np.nonzero(result['scores'] >= score_thr)[0]
    for i in keep[::-1]:  # best last, on top
        label = int(result['labels'][i])
        r, g, b = palette[label % len(palette)] if palette else (220, 20, 60)
        color = np.array([b, g, r], np.float32)
        if 'masks' in result:
            m = result['masks'][i]
            canvas[m] = (0.5 * canvas[m] + 0.5 * color).astype(np.uint8)
        x1, y1, x2, y2 = (int(round(v)) for v in result['bboxes'][i])
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color.tolist(), 1)
        name = classes[label] if label < len(classes) else str(label)
        text = f'{name}: {result["scores"][i]:.2f}'
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.35, 1)
        y = max(y1, th + 2)
        cv2.rectangle(canvas, (x1, y - th - 2), (x1 + tw + 2, y), (0, 0, 0),
                      -1)
        cv2.putText(canvas, text, (x1 + 1, y - 2), cv2.FONT_HERSHEY_SIMPLEX,
                    0.35, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas
