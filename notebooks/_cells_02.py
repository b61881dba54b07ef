"""Cells of 02_statistics_and_filters.ipynb (run ``python notebooks/_build.py`` after editing)."""

CELLS = [
    (
        "md",
        r"""
# 2. Statistics, histograms and filters, out of core

The tutorial's *Statistical information* and *Image filtering* sections on a volume
that need not fit in memory: whole-volume histograms and percentiles are exact and
computed block by block; filters are lazy and equal scipy's for any chunking.

`SIZE` is the edge of the volume (384 by default, 48 in the test suite).
""",
    ),
    (
        "code",
        r"""
import os
import pathlib
import tempfile

import dask
import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
import scipy.ndimage as ndi
import scipy.signal
import scipy.stats
import skimage.restoration

import bigimg
from bigimg import display, ndimage, restoration, stats
from bigimg.data import synthetic_ct

SIZE = int(os.environ.get("BIGIMG_NB_SIZE", 384))
CHUNK = max(24, SIZE // 3)
WORK = pathlib.Path(tempfile.mkdtemp(prefix="bigimg-nb02-"))

# Generate once into zarr, then always read from disk (generating means filtering noise).
ct = bigimg.open_zarr(bigimg.save_zarr(synthetic_ct((SIZE,) * 3, chunks=CHUNK),
                                       WORK / "ct.zarr", progress=False))

# A crop small enough for scipy, in odd blocks, for the checks below.
n = min(SIZE, 40)
crop = ct[:n, :n, :n].astype(np.float64).rechunk(n // 3 + 1)
crop_np = crop.compute()
ct
""",
    ),
    (
        "md",
        r"""
## Statistical information

`face.mean()`, `face.max()`, `face.min()`: dask reductions, one pass for all three.
`np.histogram` becomes `stats.histogram` (same arguments, exact counts).
""",
    ),
    (
        "code",
        r"""
mean, vmax, vmin = dask.compute(ct.mean(), ct.max(), ct.min())
print(f"mean {mean:.1f}  max {vmax}  min {vmin}")

counts, edges = stats.histogram(ct, bins=130, range=(0, 2600))
centers = 0.5 * (edges[:-1] + edges[1:])
fig, ax = plt.subplots(figsize=(6, 2.5))
ax.semilogy(centers, counts)
ax.set_xlabel("value (HU + 1024)")
ax.set_title("air, soft tissue and bone peaks")

# check: equal to numpy on the crop
c, e = stats.histogram(crop, bins=20, range=(0, 2600))
c_np, e_np = np.histogram(crop_np, bins=20, range=(0, 2600))
assert np.array_equal(c, c_np) and np.allclose(e, e_np)
""",
    ),
    (
        "md",
        r"""
## Percentiles and contrast stretching

The tutorial's exercise: saturate the 5 % darkest and 5 % lightest voxels with
`scipy.stats.scoreatpercentile`. `stats.scoreatpercentile` and `stats.percentile` give
the exact whole-volume values (they compute now); `stats.rescale_intensity` then
stretches lazily.
""",
    ),
    (
        "code",
        r"""
lo, hi = stats.scoreatpercentile(ct, [5, 95])
p1, p99 = stats.percentile(ct, [1, 99])
print(f"5 %: {lo}, 95 %: {hi};  1 %: {p1}, 99 %: {p99}")
stretched = stats.rescale_intensity(ct, in_range=(lo, hi), out_range=(0.0, 1.0))
display.orthoslices(stretched, title="5 % / 95 % saturated")
""",
    ),
    (
        "code",
        r"""
assert np.allclose(stats.scoreatpercentile(crop, [5, 95]), scipy.stats.scoreatpercentile(crop_np, [5, 95]))
assert np.allclose(stats.percentile(crop, [1, 99]), np.percentile(crop_np, [1, 99]))
""",
    ),
    (
        "md",
        r"""
## Blurring: Gaussian and uniform filters

`sp.ndimage.gaussian_filter(face, sigma=3)` becomes `ndimage.gaussian_filter(ct, sigma=3)`.
Each block is filtered with a halo of its neighbours' voxels (here `4 * sigma`), so
the result has no seams.
""",
    ),
    (
        "code",
        r"""
ctf = ct.astype(np.float32)
blurred = ndimage.gaussian_filter(ctf, sigma=1)
very_blurred = ndimage.gaussian_filter(ctf, sigma=3)
local_mean = ndimage.uniform_filter(ctf, size=5)

fig, axes = plt.subplots(1, 3, figsize=(9, 3))
planes = dask.compute(*(v[SIZE // 2] for v in (blurred, very_blurred, local_mean)))
for ax, img, name in zip(axes, planes, ["sigma=1", "sigma=3", "uniform 5"]):
    ax.imshow(img, cmap="gray", vmin=800, vmax=1400)
    ax.set_title(name)
    ax.axis("off")
""",
    ),
    (
        "code",
        r"""
for ours, ref in [(ndimage.gaussian_filter(crop, 3), ndi.gaussian_filter(crop_np, 3)),
                  (ndimage.uniform_filter(crop, 5), ndi.uniform_filter(crop_np, 5)),
                  (ndimage.median_filter(crop, 3), ndi.median_filter(crop_np, 3))]:
    np.testing.assert_allclose(ours.compute(), ref, rtol=1e-12, atol=1e-9)
print("gaussian, uniform and median filters equal scipy's")
""",
    ),
    (
        "md",
        r"""
## Sharpening

The tutorial's sharpening adds `alpha` times the detail a second Gaussian removes:
`blurred + alpha * (blurred - gaussian_filter(blurred, 1))`. `restoration.unsharp_mask`
is that formula.
""",
    ),
    (
        "code",
        r"""
alpha = 3
sharpened = restoration.unsharp_mask(blurred, 1, alpha)
by_hand = blurred + alpha * (blurred - ndimage.gaussian_filter(blurred, 1))
assert bool(da.allclose(sharpened, by_hand, atol=1e-2).compute())
display.orthoslices(sharpened, vmin=800, vmax=1400, title="sharpened")
""",
    ),
    (
        "md",
        r"""
## Denoising

The tutorial's exercise: add noise, then compare denoisers. `synthetic_ct` makes the
same anatomy with ten times more noise (in float32, nothing clipped) and without
noise, so each denoiser's error is measurable. A Gaussian filter smooths the noise and
the edges as well; a median filter keeps edges better; Wiener adapts to the local
variance; total variation (Chambolle) keeps flat regions flat. All the errors are
computed in one pass over the data.
""",
    ),
    (
        "code",
        r"""
truth = synthetic_ct((SIZE,) * 3, chunks=CHUNK, noise=0, dtype=np.float32)
noisy = synthetic_ct((SIZE,) * 3, chunks=CHUNK, noise=400, dtype=np.float32)
scale = 2048.0                          # TV works on roughly unit-range floats
denoised = {
    "noisy": noisy,
    "gaussian 1": ndimage.gaussian_filter(noisy, 1),
    "median 3": ndimage.median_filter(noisy, 3),
    "wiener 5": restoration.wiener(noisy, 5),
    "TV 0.15": restoration.denoise_tv_chambolle(noisy / scale, weight=0.15, max_num_iter=10) * scale,
}
rms = dask.compute({name: da.sqrt(((v - truth) ** 2).mean()) for name, v in denoised.items()})[0]
for name, err in rms.items():
    print(f"{name:>10}: RMS error {float(err):6.1f}")
assert max(rms, key=rms.get) == "noisy", "every denoiser should reduce the error"
""",
    ),
    (
        "code",
        r"""
fig, axes = plt.subplots(1, len(denoised), figsize=(3 * len(denoised), 3))
sl = (SIZE // 2, slice(SIZE // 4, 3 * SIZE // 4), slice(SIZE // 4, 3 * SIZE // 4))
for ax, (name, img) in zip(axes, zip(denoised, dask.compute(*(v[sl] for v in denoised.values())))):
    ax.imshow(img, cmap="gray", vmin=800, vmax=2200)
    ax.set_title(name)
    ax.axis("off")
""",
    ),
    (
        "code",
        r"""
# checks against scipy / scikit-image on the crop
np.testing.assert_allclose(restoration.wiener(crop, 5).compute(), scipy.signal.wiener(crop_np, 5),
                           rtol=1e-9, atol=1e-6)
ref = skimage.restoration.denoise_tv_chambolle(crop_np / scale, weight=0.15, eps=0, max_num_iter=10)
np.testing.assert_allclose(restoration.denoise_tv_chambolle(crop / scale, weight=0.15, max_num_iter=10)
                           .compute(), ref, atol=1e-9)
""",
    ),
    (
        "md",
        r"""
## Edge detection: derivatives

Sobel and Prewitt derivatives along each axis, and their magnitude, as in the
tutorial's `np.hypot(sx, sy)` (in 3-D: three axes). `gaussian_gradient_magnitude`
smooths and differentiates in one call.
""",
    ),
    (
        "code",
        r"""
smooth = ndimage.gaussian_filter(ctf, 1.5)
sobel = da.sqrt(sum(ndimage.sobel(smooth, axis=a) ** 2 for a in range(3)))
prewitt = da.sqrt(sum(ndimage.prewitt(smooth, axis=a) ** 2 for a in range(3)))
ggm = ndimage.gaussian_gradient_magnitude(ctf, 1.5)
fig, axes = plt.subplots(1, 3, figsize=(9, 3))
for ax, img, name in zip(axes, dask.compute(*(v[SIZE // 2] for v in (sobel, prewitt, ggm))),
                         ["sobel", "prewitt", "gaussian gradient magnitude"]):
    ax.imshow(img, cmap="magma")
    ax.set_title(name)
    ax.axis("off")
""",
    ),
    (
        "code",
        r"""
for a in range(3):
    np.testing.assert_allclose(ndimage.sobel(crop, axis=a).compute(), ndi.sobel(crop_np, axis=a), atol=1e-8)
    np.testing.assert_allclose(ndimage.prewitt(crop, axis=a).compute(), ndi.prewitt(crop_np, axis=a), atol=1e-8)
np.testing.assert_allclose(ndimage.gaussian_gradient_magnitude(crop, 1.5).compute(),
                           ndi.gaussian_gradient_magnitude(crop_np, 1.5), atol=1e-8)
""",
    ),
    (
        "md",
        r"""
## Fourier filtering

A Fourier transform needs whole axes, so it suits sub-volumes that fit in memory (for
the whole volume, prefer `gaussian_filter`). The `fourier_*` filters themselves work
on any chunking of the transform.
""",
    ),
    (
        "code",
        r"""
m = min(SIZE, 32)
sub = ct[SIZE // 2 - m // 2:SIZE // 2 + m // 2, :m, :m].astype(np.float64)
F = da.fft.fftn(sub.rechunk(-1)).rechunk(m // 3 + 1)        # the FFT in one block, then split
low_pass = da.fft.ifftn(ndimage.fourier_gaussian(F, sigma=2).rechunk(-1)).real
ref = np.fft.ifftn(ndi.fourier_gaussian(np.fft.fftn(sub.compute()), sigma=2)).real
np.testing.assert_allclose(low_pass.compute(), ref, atol=1e-8)
print("Fourier low-pass equals scipy's on a", sub.shape, "sub-volume")
""",
    ),
    (
        "code",
        r"""
import shutil

shutil.rmtree(WORK)
""",
    ),
]
