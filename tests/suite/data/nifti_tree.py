"""Tiny fake NIfTI trees (nibabel) for the volume tests: two classes told apart by where a bright blob sits."""
from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np

CLASSES = ("left", "right")


def blob_volume(label: int, rng: np.random.Generator, shape=(12, 14, 10)) -> np.ndarray:
    """Noise with a bright 4-voxel cube in the first (label 0) or second (label 1) half along x."""
    volume = rng.normal(100.0, 10.0, shape).astype(np.float32)
    half = shape[0] // 2
    x = rng.integers(0, half - 4) + label * half
    y, z = rng.integers(0, shape[1] - 4), rng.integers(0, shape[2] - 4)
    volume[x:x + 4, y:y + 4, z:z + 4] += 200.0
    return volume


def write_nifti_tree(root: Path, per_class: dict[str, int], seed: int = 0) -> Path:
    """``root/<split>/<class>/<i>.nii.gz`` with ``per_class[split]`` volumes of each class."""
    rng = np.random.default_rng(seed)
    for split, count in per_class.items():
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                nibabel.Nifti1Image(blob_volume(label, rng), np.eye(4)).to_filename(folder / f"{i}.nii.gz")
    return root
