"""Street-level piles of a streamed import, kept on disk by key bucket: memory flat in the rows.

A streamed import gathers, chunk by chunk, how many street-level records lie on each whole
metre (a *pile*: one int64 key packing x and y, :func:`tryggkarta.ingest.service.street_piles`,
and a count). Kept in memory as one sorted array they cost 12 bytes per distinct position
and, while a chunk's new keys go in, 12 bytes more: at 15M national rows about 300 MB at the
end of the file. Here each chunk's piles go to one of :data:`BUCKETS` anonymous temporary
files, chosen by a hash of the key, so every pile of one position lands in the same file.

The stacked-records rule (:func:`tryggkarta.analysis.forecasting.stacked_piles`) needs of all
piles only the median count, the few largest piles and the piles near the known default
positions. :meth:`SpilledPiles.reduce` reads one bucket at a time, adds up its piles and
keeps exactly those (the largest ``k`` of each bucket by count, then key), plus a histogram
of the counts for the median; the rule run on what is kept, with that median, gives the same
places as on every pile. Memory: one chunk's piles while reading, one bucket's at the end.

The files are unlinked as soon as they are made (``tempfile.TemporaryFile``): a killed
import leaves nothing behind.
"""

from __future__ import annotations

import math
import tempfile
from typing import IO, Any

import numpy as np

#: Temporary files the piles are spread over (at 15M rows about 3 MB each).
BUCKETS = 64
_PILE = np.dtype([("key", "<i8"), ("n", "<i4")])
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def unpack(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y (whole metres, int32) of pile keys (the packing of ``street_piles``)."""
    return (keys >> 32).astype(np.int32), ((keys & (2**32 - 1)) - 2**31).astype(np.int32)


class SpilledPiles:
    """Piles added chunk by chunk, kept in temporary files by key bucket.

    >>> piles = SpilledPiles()
    >>> piles.add(keys, counts)          # one chunk's piles (keys unique within the chunk)
    >>> keys, counts, median = piles.reduce(known=[[x, y]], radius=25.0, min_count=3, top=6)
    """

    def __init__(self, buckets: int = BUCKETS, folder: str | None = None) -> None:
        self.buckets = int(buckets)
        self.folder = folder
        self._files: list[IO[bytes] | None] = [None] * self.buckets
        self.added = 0  # pile records written (a key counts once per chunk it occurs in)

    def _bucket(self, keys: np.ndarray) -> np.ndarray:
        shift = np.uint64(64 - max(1, math.ceil(math.log2(self.buckets))))
        mixed = (keys.astype(np.uint64) * _GOLDEN) >> shift  # wraps modulo 2**64, as meant
        return (mixed % np.uint64(self.buckets)).astype(np.intp)

    def add(self, keys: np.ndarray, counts: np.ndarray) -> None:
        """Write one chunk's piles (``keys`` unique within the chunk) to their buckets."""
        if len(keys) == 0:
            return
        records = np.empty(len(keys), dtype=_PILE)
        records["key"], records["n"] = keys, counts
        which = self._bucket(records["key"])
        order = np.argsort(which, kind="stable")
        records, which = records[order], which[order]
        bounds = np.searchsorted(which, np.arange(self.buckets + 1))
        for b in np.flatnonzero(np.diff(bounds)):  # a loop over buckets, not over piles
            handle = self._files[b]
            if handle is None:
                handle = self._files[b] = tempfile.TemporaryFile(dir=self.folder)
            handle.write(records[bounds[b] : bounds[b + 1]].tobytes())
        self.added += len(keys)

    def _read(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Bucket ``b``'s piles added up: (sorted distinct keys, records per key)."""
        handle = self._files[b]
        if handle is None:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        handle.seek(0)
        records = np.frombuffer(handle.read(), dtype=_PILE)
        keys, inverse = np.unique(records["key"], return_inverse=True)
        counts = np.bincount(inverse.ravel(), weights=records["n"], minlength=len(keys))
        return keys, counts.astype(np.int64)

    def reduce(
        self,
        *,
        top: int,
        known: Any = None,
        radius: float = 25.0,
        min_count: int = 1,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """What the stacked-records rule needs of all piles: (keys ascending, counts, median).

        Kept: each bucket's ``top`` largest piles (ties: the smaller key first, the order of
        the rule's stable sort), which hold the ``top`` largest of all; and the piles of at
        least ``min_count`` records within the square of half-side ``radius`` (whole metres,
        widened outward) around any ``known`` point. ``median`` is that of every pile's count.
        """
        points = (
            np.asarray(known, dtype=np.float64).reshape(-1, 2)
            if known is not None
            else np.empty((0, 2))
        )
        hist = np.zeros(1, dtype=np.int64)
        kept_keys, kept_counts = [], []
        for b in range(self.buckets):
            keys, counts = self._read(b)
            if len(keys) == 0:
                continue
            seen = np.bincount(counts)
            if len(seen) > len(hist):
                hist = np.pad(hist, (0, len(seen) - len(hist)))
            hist[: len(seen)] += seen
            keep = np.zeros(len(keys), dtype=bool)
            keep[np.lexsort((keys, -counts))[:top]] = True
            if len(points):
                x, y = unpack(keys)
                for kx, ky in points:  # a loop over the known points (a handful)
                    keep |= (
                        (x >= math.floor(kx - radius))
                        & (x <= math.ceil(kx + radius))
                        & (y >= math.floor(ky - radius))
                        & (y <= math.ceil(ky + radius))
                        & (counts >= min_count)
                    )
            kept_keys.append(keys[keep])
            kept_counts.append(counts[keep])
        if not kept_keys:
            return np.empty(0, np.int64), np.empty(0, np.int64), 0.0
        keys = np.concatenate(kept_keys)
        counts = np.concatenate(kept_counts)
        order = np.argsort(keys)
        return keys[order], counts[order], _median_of(hist)

    def close(self) -> None:
        """Close (and so delete) the temporary files."""
        for i, handle in enumerate(self._files):
            if handle is not None:
                handle.close()
                self._files[i] = None

    def __enter__(self) -> SpilledPiles:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _median_of(hist: np.ndarray) -> float:
    """The median of the values a histogram (``hist[v]`` = how often ``v``) counts, as
    ``np.median`` gives it (the mean of the two middle values of an even number)."""
    total = int(hist.sum())
    if total == 0:
        return 0.0
    cum = np.cumsum(hist)
    lo = int(np.searchsorted(cum, (total - 1) // 2, side="right"))
    hi = int(np.searchsorted(cum, total // 2, side="right"))
    return (lo + hi) / 2
