"""Stable identities and counter-based random numbers derived from them.

Every random choice noisybox makes about a record is a pure function of ``(seed, stream,
record key)``: the same box gets the same noise whatever else is in the file, in whatever
order, and re-runs are identical.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def text_key(text: str) -> int:
    """A 64-bit key for a string (its BLAKE2b digest), the same on every machine and run."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def integer_keys(values) -> np.ndarray:
    """64-bit keys for integer ids (two's complement for negatives), as uint64; an id beyond
    64 bits is keyed by its decimal text (:func:`text_key`)."""
    try:
        return np.asarray(values, dtype=np.int64).view(np.uint64)
    except OverflowError:
        return np.asarray(
            [
                np.int64(v).view(np.uint64) if -(2**63) <= v < 2**63 else text_key(str(v))
                for v in values
            ],
            dtype=np.uint64,
        )


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finalizer: a bijective mix of uint64 values (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def keyed_uniform(seed: int, stream: str, keys: np.ndarray, count: int) -> np.ndarray:
    """``(N, count)`` float64 uniforms in [0, 1), a pure function of (seed, stream, key, column).

    ``stream`` names the use (e.g. ``"uniform"``, ``"drop"``) so that the draws of
    different noise models are independent.
    """
    base = np.uint64(text_key(f"noisybox/{seed}/{stream}"))
    mixed = _splitmix64(np.asarray(keys, dtype=np.uint64) ^ base)
    with np.errstate(over="ignore"):
        columns = mixed[:, None] + np.arange(1, count + 1, dtype=np.uint64) * _GOLDEN
    bits = _splitmix64(_splitmix64(columns))
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53
