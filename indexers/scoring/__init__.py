"""Scoring math on arrays: MaxSim, XTR imputation, token pooling, rank fusion."""

from __future__ import annotations
