"""scipy's repeat-until-nothing-changes loop itself, pass by pass through scratch space.

When one dilation step can unset a voxel (the neighbourhood lacks the zero offset and
an input voxel inside the mask is not set again by its neighbours), the sequence of
steps is not monotone: it may settle after any number of steps, or cycle forever
(scipy then never returns). No closed form gives where it stops, so this runs the
steps themselves:

* the input and mask are written to scratch once, as one uint8 per voxel (bit 0 the
  state, bit 1 the mask; :func:`bigimg._morphology._kernels.pack_with_mask`);
* each *pass* reads every block with a halo of ``k`` steps' reach from the previous
  generation, applies ``k`` single steps (bigimg's one-step kernel,
  :func:`~bigimg._morphology._kernels.binary_steps`), writes the block's new state
  as the next generation and reports, per step, whether the block changed and a
  64-bit digest of it;
* the client stops at the first step where no block changed (the state is then a
  fixed point, so the last generation is the result) or raises when a whole state
  repeats (scipy would loop forever).

Each pass reads and writes the volume once; a task holds one block with its halo.
This is the slow path, for neighbourhoods without their centre only.
"""

from __future__ import annotations

import hashlib

import dask
import dask.array as da
import numpy as np
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph

from bigimg._morphology._kernels import binary_steps, pack_with_mask
from bigimg._morphology._reach import Reach, work_chunks
from bigimg._scratch import Scratch

__all__ = ["PASS_HALO", "NeverSettlesError", "iterate_until_stable"]

#: Largest halo (voxels per side) of one pass; a pass runs ``PASS_HALO // reach`` steps.
PASS_HALO = 16


class NeverSettlesError(ValueError):
    """The steps cycle: scipy's loop would never end on this input."""


def _name(gen: int, idx: tuple[int, ...]) -> str:
    return f"g{gen}-" + "-".join(map(str, idx)) + ".raw"


def _digest(idx: tuple[int, ...], state: np.ndarray) -> int:
    h = hashlib.blake2b(repr(idx).encode(), digest_size=8)
    h.update(np.packbits(state).tobytes())
    return int.from_bytes(h.digest(), "little")


def _write_first(seeds, mask, scratch: Scratch, idx: tuple[int, ...]) -> int:
    packed = pack_with_mask(seeds, np.ones(seeds.shape, bool) if mask is None else mask)
    scratch.write_block(_name(0, idx), packed)
    return _digest(idx, seeds != 0)


class _Grid:
    """Block boxes of one chunking and reads of any region from one generation."""

    def __init__(self, chunks) -> None:
        self.chunks = tuple(tuple(int(c) for c in ax) for ax in chunks)
        self.starts = [np.cumsum((0,) + ax) for ax in self.chunks]
        self.shape = tuple(sum(ax) for ax in self.chunks)

    def box(self, idx) -> tuple[slice, ...]:
        return tuple(slice(int(s[i]), int(s[i + 1])) for s, i in zip(self.starts, idx))

    def read(self, scratch: Scratch, gen: int, region: tuple[slice, ...]) -> np.ndarray:
        out = np.empty(tuple(r.stop - r.start for r in region), np.uint8)
        ranges = [
            range(
                int(np.searchsorted(s, r.start, side="right")) - 1,
                int(np.searchsorted(s, r.stop, side="left")),
            )
            for r, s in zip(region, self.starts)
        ]
        for bidx in np.ndindex(*(len(r) for r in ranges)):
            idx = tuple(rg[i] for rg, i in zip(ranges, bidx))
            box = self.box(idx)
            src = tuple(
                slice(max(r.start, b.start) - b.start, min(r.stop, b.stop) - b.start)
                for r, b in zip(region, box)
            )
            dst = tuple(
                slice(max(r.start, b.start) - r.start, min(r.stop, b.stop) - r.start)
                for r, b in zip(region, box)
            )
            shape = tuple(b.stop - b.start for b in box)
            out[dst] = scratch.read_block(_name(gen, idx), shape, np.uint8, src)
        return out


def _pass_task(scratch: Scratch, grid: _Grid, gen: int, idx, reach: Reach, steps: int):
    """``steps`` single steps of block ``idx``: (changed per step, digest per step)."""
    box = grid.box(idx)
    ext = tuple(
        slice(max(0, b.start - steps * lo), min(n, b.stop + steps * hi))
        for b, lo, hi, n in zip(box, reach.lo, reach.hi, grid.shape)
    )
    cur = grid.read(scratch, gen, ext)
    core = tuple(slice(b.start - e.start, b.stop - e.start) for b, e in zip(box, ext))
    geometry = (None, ("offsets", -np.asarray(reach.offsets, np.intp).reshape(-1, reach.ndim)))
    prev = (cur[core] & 1).astype(bool)
    changed, digests = [], []
    for _ in range(steps):
        cur = binary_steps(
            cur,
            geometry=geometry,
            steps=((True, 1),),
            border=reach.border,
            packed=True,
            keep_packed=True,
            dtype=bool,
        )
        now = (cur[core] & 1).astype(bool)
        changed.append(not np.array_equal(now, prev))
        digests.append(_digest(idx, now))
        prev = now
    scratch.write_block(_name(gen + 1, idx), cur[core])
    return changed, digests


def _read_state(scratch: Scratch, name: str, shape: tuple[int, ...]) -> np.ndarray:
    return (scratch.read_block(name, shape, np.uint8) & 1).astype(bool)


def _run(dsk: dict, deps: list, key: str):
    dsk[key] = (list, [k for k in dsk if k != key])
    (out,) = dask.compute(Delayed(key, HighLevelGraph.from_collections(key, dsk, deps)))
    return out


def iterate_until_stable(
    seeds: da.Array, mask: da.Array | None, reach: Reach, *, name: str
) -> da.Array:
    """Repeat one masked dilation step of ``seeds`` until nothing changes, as scipy.

    The passes compute now (scratch space holds two generations of one byte per
    voxel); the result is lazy and reads the last generation. Raises
    :class:`NeverSettlesError` (naming the public function ``name``) when a state
    repeats.
    """
    steps = max(1, PASS_HALO // max(1, *reach.lo, *reach.hi))
    chunks = seeds.chunks
    work = work_chunks(chunks, (0,) * seeds.ndim)
    seeds = seeds.rechunk(work)
    mask = None if mask is None else mask.rechunk(work)
    grid = _Grid(work)
    blocks = list(np.ndindex(*seeds.numblocks))
    scratch = Scratch(None, "propagate")
    token = dask.base.tokenize(seeds, mask, reach, scratch)
    dsk = {
        (f"bigimg-iterate-write-{token}", *idx): (
            _write_first,
            (seeds.name, *idx),
            None if mask is None else (mask.name, *idx),
            scratch,
            idx,
        )
        for idx in blocks
    }
    first = _run(dsk, [a for a in (seeds, mask) if a is not None], f"bigimg-iterate-0-{token}")
    seen = {int(np.bitwise_xor.reduce(np.array(first, np.uint64))): 0}
    gen, step = 0, 0
    while True:
        dsk = {
            (f"bigimg-iterate-pass{gen}-{token}", *idx): (
                _pass_task,
                scratch,
                grid,
                gen,
                idx,
                reach,
                steps,
            )
            for idx in blocks
        }
        results = _run(dsk, [], f"bigimg-iterate-pass{gen}-collect-{token}")
        scratch.delete(*(_name(gen, idx) for idx in blocks))
        gen += 1
        changed = np.array([r[0] for r in results]).any(axis=0)
        digests = np.bitwise_xor.reduce(np.array([r[1] for r in results], np.uint64), axis=0)
        for moved, digest in zip(changed.tolist(), digests.tolist()):
            step += 1
            if not moved:
                out = _result(scratch, grid, gen, blocks, token)
                return out if out.chunks == chunks else out.rechunk(chunks)
            if digest in seen:
                scratch.remove()
                raise NeverSettlesError(
                    f"`{name}` never stops changing with this `structure` and `origin`: "
                    f"the state after step {step} is the state after step {seen[digest]}, "
                    "so the steps cycle forever (scipy.ndimage loops forever on this input). "
                    "The neighbourhood lacks its centre (after `origin`); use a structure "
                    "whose centre is set, or a positive number of `iterations`."
                )
            seen[digest] = step


def _result(scratch: Scratch, grid: _Grid, gen: int, blocks: list, token: str) -> da.Array:
    name = f"bigimg-iterate-result-{token}"
    dsk = {
        (name, *idx): (
            _read_state,
            scratch,
            _name(gen, idx),
            tuple(b.stop - b.start for b in grid.box(idx)),
        )
        for idx in blocks
    }
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[])
    return da.Array(
        graph, name, grid.chunks, dtype=bool, meta=np.empty((0,) * len(grid.shape), bool)
    )
