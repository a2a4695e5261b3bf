"""What indexes keep on disk: versioned folders, token and sparse stores, ANN, Lucene files."""

from __future__ import annotations
