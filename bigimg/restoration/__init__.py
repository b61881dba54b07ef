"""Denoising and sharpening of chunked volumes.

>>> from bigimg import restoration
>>> sorted(restoration.__all__)
['denoise_tv_chambolle', 'unsharp_mask', 'wiener']
"""

from bigimg.restoration._sharpen import unsharp_mask
from bigimg.restoration._tv import denoise_tv_chambolle
from bigimg.restoration._wiener import wiener

__all__ = ["denoise_tv_chambolle", "unsharp_mask", "wiener"]
