"""Synthetic embeddings shaped like a text encoder's: unit vectors around topic centres.

Uniform random vectors in 384 dimensions have no neighbourhood structure (every point is
nearly equidistant from every other), which no real embedding model produces and on which
every ANN index's recall collapses; sentence embeddings cluster by topic. These do too:
each vector is one of ``topics`` random centres plus isotropic noise, normalised.
"""

from __future__ import annotations

import argparse

import numpy as np

TOPICS = 1_000
# Noise relative to the centre: a vector keeps roughly 0.6 cosine to its topic centre.
SPREAD = 1.3


def clustered_embeddings(rng: np.random.Generator, count: int, dimensions: int, topics: int = TOPICS) -> np.ndarray:
    """``count`` float32 unit vectors; the same seed gives the same centres and vectors."""
    centres = np.random.default_rng(0).standard_normal((topics, dimensions), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = rng.standard_normal((count, dimensions), dtype=np.float32) * (SPREAD / np.sqrt(dimensions))
    vectors = centres[rng.integers(0, topics, count)] + noise
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def add_corpus_arguments(parser: argparse.ArgumentParser) -> None:
    """How many vectors a benchmark indexes, and of how many dimensions."""
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--dimensions", type=int, default=384)
