"""`digits_m`: the bundled digits blended with colour photo patches, as MNIST-M is
built from MNIST and BSDS500 (Ganin et al. 2016, section 5.2.2).

Each digit d (grey, in [0, 1]) is blended with a random ``image_size`` x
``image_size`` patch P cut at full resolution from one of scikit-learn's bundled
sample photographs (``load_sample_images``: china.jpg, flower.jpg), per pixel and
channel ``|P - d|``: the background keeps the photo, the stroke inverts it. The
photo and crop position of every image depend only on ``data.blend_seed``; the
train/val/test split is the digits split (same ``split_fractions``/``split_seed``
give the same indices), so `digits` and `digits_m` are two renderings of the same
1,797 digits: the natural target domain for `digits` in ``task=uda``. `mnist5k_m` applies the
same recipe to the real MNIST digits of `mnist5k`.
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_sample_images

from suite.data.digits import digit_images
from suite.data.mnist5k import mnist5k_images
from suite.data.splits import ImageSplits, tensor_splits


def sample_photos() -> list[torch.Tensor]:
    """scikit-learn's bundled photographs as (3, H, W) floats in [0, 1]."""
    return [torch.tensor(photo, dtype=torch.float32).permute(2, 0, 1) / 255.0
            for photo in load_sample_images().images]


def patch_positions(num_images: int, patch_size: int, photo_shapes: list[tuple[int, int]],
                    seed: int) -> np.ndarray:
    """(num_images, 3) int64 rows ``(photo index, top, left)``, uniformly random for `seed`."""
    rng = np.random.default_rng(seed)
    photo = rng.integers(len(photo_shapes), size=num_images)
    heights = np.array([shape[0] for shape in photo_shapes])[photo]
    widths = np.array([shape[1] for shape in photo_shapes])[photo]
    if (heights < patch_size).any() or (widths < patch_size).any():
        raise ValueError(f"patches of {patch_size} px do not fit in photos of shapes {photo_shapes}")
    top = (rng.random(num_images) * (heights - patch_size + 1)).astype(np.int64)
    left = (rng.random(num_images) * (widths - patch_size + 1)).astype(np.int64)
    return np.stack([photo, top, left], axis=1).astype(np.int64)


def blend_with_patches(digits: torch.Tensor, photos: list[torch.Tensor], positions: np.ndarray) -> torch.Tensor:
    """|patch - digit| for digits (N, 1 or 3, S, S) in [0, 1] and patches (3, S, S) cut
    from ``photos`` at ``positions`` (see `patch_positions`): (N, 3, S, S) in [0, 1]."""
    size = digits.shape[-1]
    patches = torch.stack([photos[photo][:, top:top + size, left:left + size] for photo, top, left in positions])
    return (patches - digits).abs()


def mnist_m_recipe(digits: torch.Tensor, blend_seed: int) -> torch.Tensor:
    """Grey digits (N, 1, S, S) in [0, 1] blended with photo patches fixed by `blend_seed`: (N, 3, S, S)."""
    photos = sample_photos()
    positions = patch_positions(len(digits), digits.shape[-1], [tuple(p.shape[1:]) for p in photos], blend_seed)
    return blend_with_patches(digits, photos, positions)


def build_digits_m(cfg) -> ImageSplits:
    """Colour digits (3 channels) with the digits split; the blend is fixed by ``data.blend_seed``."""
    digits, labels = digit_images(cfg.image_size, 1)
    return tensor_splits(mnist_m_recipe(digits, cfg.blend_seed), labels, cfg, "digits_m")


def build_mnist5k_m(cfg) -> ImageSplits:
    """`mnist5k_m`: the recipe applied to the 5,000 real MNIST digits (as MNIST-M is built from
    MNIST), with the mnist5k split (same ``split_fractions``/``split_seed``: same indices)."""
    digits, labels = mnist5k_images(cfg.image_size, 1, cfg.get("file"))
    return tensor_splits(mnist_m_recipe(digits, cfg.blend_seed), labels, cfg, "mnist5k_m")
