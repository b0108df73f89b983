"""Randomness that can be evaluated strip by strip, so a 10240² scene never needs full-size float stacks.

Two building blocks:

- ``hash_uniform``: a counter-based random number (splitmix64 of integer keys). The value for a
  building lot, a field parcel or a pixel depends only on the seed and its integer coordinates,
  never on which strip or process computes it.
- ``SmoothField``: a smooth random surface (coarse grid of normal values interpolated with a
  Gaussian kernel, summed over octaves). Its separable form ``A[rows] @ grid @ A.T`` gives any band of
  rows exactly, without computing the rest.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix(h: np.ndarray) -> np.ndarray:
    h = h + _GOLDEN
    h = (h ^ (h >> np.uint64(30))) * _MIX1
    h = (h ^ (h >> np.uint64(27))) * _MIX2
    return h ^ (h >> np.uint64(31))


def stable_int(text: str) -> int:
    """A 63-bit integer fixed by ``text``: seeds from names, unlike ``hash()`` which varies per process."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


def hash_key(seed: int, *keys: np.ndarray | int) -> np.ndarray:
    """uint64 hash of ``seed`` and the integer ``keys`` (broadcast; negative keys are fine).

    Keys are mixed in one after the other and broadcast as they come, so put small keys (a row
    vector) before big ones: only the mixes after the result reaches full size cost a full pass.
    Hash an object's coordinates once with this, then take several values from it with
    ``hash_fields``.
    """
    with np.errstate(over="ignore"):
        h = _splitmix(np.asarray(seed % 2**64, dtype=np.uint64))
        for key in keys:
            key = np.asarray(key)
            h = _splitmix(h ^ (key if key.dtype == np.uint64 else key.astype(np.int64).view(np.uint64)))
    return np.asarray(h)


def hash_fields(count: int, seed: int, *keys: np.ndarray | int) -> list[np.ndarray]:
    """``count`` independent uniform float32 values in [0, 1), cut from the bits of one 64-bit hash.

    Cheaper than hashing once per value; each value has ``64 // count`` bits of resolution.
    """
    h = hash_key(seed, *keys)
    bits = 64 // count
    mask, scale = np.uint64((1 << bits) - 1), np.float32(2.0**-bits)
    return [((h >> np.uint64(i * bits)) & mask).astype(np.float32) * scale for i in range(count)]


def hash_uniform(seed: int, *keys: np.ndarray | int) -> np.ndarray:
    """Uniform float32 values in [0, 1) determined by ``seed`` and the integer ``keys`` (broadcast)."""
    return hash_fields(1, seed, *keys)[0]


def _gaussian_interpolation_matrix(length: int, cell: float) -> np.ndarray:
    """(length, nodes) float32 weights spreading coarse grid nodes ``cell`` pixels apart over pixels.

    Rows are normalised so the field's variance does not wobble between nodes; the Gaussian
    (sigma = 0.6 cell) makes the surface smooth, unlike bilinear interpolation whose kinks would
    show as straight segments in thresholded shorelines.
    """
    nodes = int(np.ceil(length / cell)) + 4
    positions = (np.arange(length, dtype=np.float32) + 0.5) / np.float32(cell) + 2.0
    distance = positions[:, None] - np.arange(nodes, dtype=np.float32)[None, :]
    weights = np.exp(-0.5 * (distance / 0.6) ** 2)
    weights[np.abs(distance) > 3.0] = 0.0
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


class SmoothField:
    """A smooth random surface over a ``height`` x ``width`` raster with features about ``cell`` px wide.

    ``octaves`` > 1 adds finer detail (each octave half the cell, ``persistence`` times the
    amplitude), which gives natural-looking ragged outlines (woodland, lakes) with fragments of many
    sizes.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        height: int,
        width: int,
        cell: float,
        octaves: int = 1,
        persistence: float = 0.65,
    ) -> None:
        self.height, self.width = height, width
        self._layers = []
        for octave in range(octaves):
            octave_cell = cell / 2**octave
            rows = _gaussian_interpolation_matrix(height, octave_cell)
            cols = _gaussian_interpolation_matrix(width, octave_cell)
            grid = rng.standard_normal((rows.shape[1], cols.shape[1]), dtype=np.float32)
            self._layers.append((rows, grid @ cols.T, np.float32(persistence**octave)))

    def rows(self, start: int, stop: int) -> np.ndarray:
        """The field on rows ``start:stop`` (all columns), float32."""
        out = np.zeros((stop - start, self.width), dtype=np.float32)
        for rows, grid_cols, amplitude in self._layers:
            band = rows[start:stop]
            used = np.flatnonzero(band.any(axis=0))  # the Gaussian is compact: few nodes touch a strip
            lo, hi = used[0], used[-1] + 1
            out += amplitude * (band[:, lo:hi] @ grid_cols[lo:hi])
        return out

    def sample(self, step: int = 8) -> np.ndarray:
        """The field on every ``step``-th row and column: cheap scene-wide statistics."""
        return sum(
            amplitude * (rows[::step] @ grid_cols[:, ::step]) for rows, grid_cols, amplitude in self._layers
        )
