"""3-D classifiers from MONAI for volumes (N, C, D, H, W), with the registry's norm in every layer.

``model.name``: ``monai_resnet10/18/34`` (MONAI's 3-D ResNet with basic blocks, Hara et al. 2018, the
MedicalNet family; the stem convolution has stride 2, as in 2-D ResNets, where MONAI's default is 1) or ``monai_densenet121`` (MONAI's 3-D DenseNet-121, Huang et al. 2017). ``model.kwargs``
overrides the constructor's arguments (e.g. ``++model.kwargs={block_inplanes:[8,16,32,64]}`` for a ResNet,
``++model.kwargs={init_features:16,growth_rate:8,block_config:[2,2]}`` for a DenseNet).

The norm reaches MONAI through its ``norm=`` argument: a ``normsuite`` entry in MONAI's ``Norm`` factory
builds the configured norm per layer with the group rule (``norms.norm_layer``). Layers MONAI builds
without that argument (its ResNet blocks), and every layer of a model that rejects it (MONAI's ResNet
initialisation reads ``weight`` from norms that have none), are swapped by `norms.convert`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from suite.models import build_with_norm, norm_options
from suite.registry import Registry

MONAI_NORM = "normsuite"


@dataclass(frozen=True)
class VolumeModel:
    """A MONAI network class (in ``monai.networks.nets``), its defaults, and its names for C and K."""

    network: str
    defaults: dict = field(default_factory=dict)
    in_channels_key: str = "in_channels"
    num_classes_key: str = "out_channels"


VOLUME_MODELS = Registry("3-D model", "model.name")
_RESNET = dict(network="ResNet", in_channels_key="n_input_channels", num_classes_key="num_classes")
_RESNET_DEFAULTS = dict(block="basic", block_inplanes=[64, 128, 256, 512], conv1_t_stride=2)
for _name, _layers in (("monai_resnet10", [1, 1, 1, 1]), ("monai_resnet18", [2, 2, 2, 2]),
                       ("monai_resnet34", [3, 4, 6, 3])):
    VOLUME_MODELS.register(_name)(VolumeModel(defaults={**_RESNET_DEFAULTS, "layers": _layers}, **_RESNET))
VOLUME_MODELS.register("monai_densenet121")(VolumeModel("DenseNet", dict(block_config=[6, 12, 24, 16])))


def monai_norm(norm_cfg) -> tuple[str, dict]:
    """MONAI's ``norm=`` argument for the configured norm (registering normsuite's factory once)."""
    from monai.networks.layers.factories import Norm
    from norms.registry import NormsuiteNormLayer

    if MONAI_NORM.upper() not in Norm.names:
        Norm.add_factory_callable(MONAI_NORM, lambda spatial_dims=None: NormsuiteNormLayer,
                                  "a registered normsuite norm: ('normsuite', {norm_name, config})")
    return MONAI_NORM, {"norm_name": norm_cfg.name, "config": norm_options(norm_cfg)}


def build_volume_model(model_cfg, norm_cfg, in_channels: int, num_classes: int) -> nn.Module:
    """The MONAI 3-D classifier ``model.name``: (N, in_channels, D, H, W) -> logits (N, num_classes)."""
    from monai.networks import nets

    spec = VOLUME_MODELS.get(model_cfg.name)
    kwargs = {**spec.defaults, **dict(model_cfg.get("kwargs") or {}), "spatial_dims": 3,
              spec.in_channels_key: in_channels, spec.num_classes_key: num_classes}

    def create(norm):
        return getattr(nets, spec.network)(**kwargs, **({"norm": norm} if norm else {}))

    return build_with_norm(create, monai_norm(norm_cfg), model_cfg.name, norm_cfg)
