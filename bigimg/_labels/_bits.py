"""Bit tools for the run scanner: 64 voxels of a row as one 64-bit mask (numba).

The scanner (:mod:`bigimg._labels._runs`) asks :func:`chunk_mask` for the mask of up
to 64 voxels of a row and walks its set bits with :func:`trailing_zeros`. Bit ``t`` of
a mask is voxel ``start + t``. One-byte voxels are read eight at a time
(:func:`load_u64`, an unaligned load, and :func:`byte_mask`, on little-endian
machines); wider voxels one at a time, as unsigned integers tested against a ``nonzero`` bit mask (all
bits for integers, all but the sign bit for floats, so ``-0.0`` is background and NaN
foreground, as ``x != 0`` says).
"""

from __future__ import annotations

import sys

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

__all__ = ["byte_mask", "chunk_mask", "load_u64", "trailing_zeros"]

_JIT = dict(nogil=True, cache=True)
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_ONES = np.uint64(0x0101010101010101)
_GATHER = np.uint64(0x0102040810204080)  # moves bit 0 of byte t to bit 56 + t


@intrinsic
def load_u64(typingctx, buf, index):
    """The eight bytes ``buf[index : index + 8]`` of a contiguous uint8 array as one
    little-endian uint64 (any alignment; the caller keeps ``index + 8 <= buf.size``)."""
    if not (isinstance(buf, types.Array) and buf.dtype == types.uint8):
        return None
    sig = types.uint64(buf, index)

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        index = context.cast(builder, args[1], signature.args[1], types.intp)
        pointer = builder.gep(array.data, [index])
        word = builder.bitcast(pointer, ir.IntType(64).as_pointer())
        return builder.load(word, align=1)

    return sig, codegen


@intrinsic
def trailing_zeros(typingctx, word):
    """The index of the lowest set bit of a nonzero uint64 (LLVM ``cttz``)."""
    if word != types.uint64:
        return None
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(64), [ir.IntType(64), ir.IntType(1)])
        cttz = cgutils.get_or_insert_function(builder.module, fnty, "llvm.cttz.i64")
        return builder.call(cttz, [args[0], ir.Constant(ir.IntType(1), 1)])

    return sig, codegen


@numba.njit(**_JIT)
def byte_mask(word):
    """Bit ``t`` (0..7) set iff byte ``t`` of ``word`` is nonzero."""
    high = ((word & _LOW7) + _LOW7) | word  # bit 7 of each byte: byte != 0
    return (((high >> np.uint64(7)) & _ONES) * _GATHER) >> np.uint64(56)


def chunk_mask(buf, start, n, nonzero):  # pragma: no cover - replaced in numba code
    """Bit ``t`` (``t < n <= 64``) set iff ``buf[start + t] & nonzero`` is nonzero."""
    raise NotImplementedError("chunk_mask runs in numba-compiled code only")


@overload(chunk_mask, jit_options={"nogil": True})
def _chunk_mask(buf, start, n, nonzero):
    if buf.dtype == types.uint8 and sys.byteorder == "little":  # words read little-endian

        def bytes_impl(buf, start, n, nonzero):
            mask = np.uint64(0)
            if n == 64:  # a fixed trip count: unrolled
                for w in range(8):
                    word = byte_mask(load_u64(buf, start + 8 * w))
                    mask |= word << np.uint64(8 * w)
                return mask
            t = 0
            while t + 8 <= n:
                mask |= byte_mask(load_u64(buf, start + t)) << np.uint64(t)
                t += 8
            while t < n:
                if buf[start + t] != 0:
                    mask |= np.uint64(1) << np.uint64(t)
                t += 1
            return mask

        return bytes_impl

    def elements_impl(buf, start, n, nonzero):
        mask = np.uint64(0)
        for t in range(n):
            if buf[start + t] & nonzero:
                mask |= np.uint64(1) << np.uint64(t)
        return mask

    return elements_impl
