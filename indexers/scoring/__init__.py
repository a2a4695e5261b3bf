"""Scoring math on arrays and ranked lists.

- `centroid_maxsim`: MaxSim over centroid look-ups (residual stores' candidate stages), compiled.
- `fusion`: weighted reciprocal rank fusion of ranked id lists.
- `imputation`: scores from retrieved tokens only, with XTR's missing-similarity imputation.
- `maxsim`: late-interaction (MaxSim) scores, dense and sparse (SLIM).
- `pooling`: hierarchical token pooling (merge similar token vectors of a document).
"""

from __future__ import annotations

__all__: list[str] = []
