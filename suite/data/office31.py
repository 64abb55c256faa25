"""`office31`: one domain of Office-31 (Saenko et al. 2010) as an ImageFolder tree:
``root/<domain>/<class>/<image>`` or the archive's ``root/<domain>/images/<class>/<image>``,
with ``data.domain`` one of amazon, dslr, webcam.

The usual UDA protocol (Ganin et al. 2016; Long et al. 2015): a domain is used whole.
As source its labelled images train the model; as target the same images are the
unlabelled training data and, with their labels, the test set (there is no separate
split); val is the test set. ``data.augment`` adds random resized crops and flips
to training. ImageNet statistics, for ImageNet-pretrained backbones.
"""
from __future__ import annotations

from pathlib import Path

from torchvision import datasets

from suite.data.imagefolder import IMAGENET_MEAN, IMAGENET_STD, folder_transforms
from suite.data.splits import ImageSplits
from suite.errors import UserError

DOMAINS = ("amazon", "dslr", "webcam")


def domain_folder(root: Path, domain: str) -> Path:
    """The folder whose subfolders are the classes of `domain`."""
    if domain not in DOMAINS:
        raise UserError(f"unknown Office-31 domain '{domain}': set data.domain= one of {', '.join(DOMAINS)}")
    folder = root / domain
    if (folder / "images").is_dir():
        folder = folder / "images"
    if not folder.is_dir():
        raise UserError(f"no Office-31 domain at {folder}: set data.root to the folder holding "
                        f"{', '.join(DOMAINS)} (each with <class>/<image> inside)")
    return folder


def build_office31(cfg) -> ImageSplits:
    folder = domain_folder(Path(cfg.root).expanduser(), cfg.domain)
    train_tf, plain = folder_transforms(cfg.image_size, cfg.augment)
    try:
        train = datasets.ImageFolder(str(folder), transform=train_tf)
        test = datasets.ImageFolder(str(folder), transform=plain)
    except FileNotFoundError as error:
        raise UserError(f"{folder} has no readable images ({error}); put images in {folder}/<class>/") from None
    return ImageSplits(train=train, val=test, test=test, num_classes=len(train.classes), in_channels=3,
                       image_size=cfg.image_size, mean=IMAGENET_MEAN, std=IMAGENET_STD, name=f"office31:{cfg.domain}")
