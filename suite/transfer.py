"""``model.init``: start a task's backbone from an earlier run's weights, across norms.

The Group Normalization paper (Wu & He 2018, section 6) fine-tunes detectors from ImageNet pre-training and
argues that GN transfers where BN's running statistics do not. Here a run starts from another run:

- ``model.init=<run dir>`` (its ``checkpoints/fit/last.ckpt``) or ``=<checkpoint>`` inside a run directory.
- The backbone is what the module's ``transfer_parts()`` names: the whole network but the classifier for
  cls and adv, the embedding network for fsl, the feature extractor for uda; nas refuses ``model.init``
  (its architecture is searched from scratch). The classifier head is loaded only when its shape fits
  (the same class count); otherwise it keeps its fresh initialisation.
- The module is first built with the norm the checkpoint was trained with (``config.norm`` of the source
  run's metrics.json), loaded, then its backbone is converted to the run's ``norm=`` by `norms.convert`
  (weight and bias carried, and running statistics where the shapes allow).
- ``model.freeze_norm_stats=true``: the backbone's norm layers with running statistics always normalize
  with them and neither update them nor train their affine parameters (timm's FrozenBatchNorm2d, for any
  norm that keeps running statistics). ``model.backbone_lr_mult`` scales the backbone's learning rate.

A checkpoint that does not fit (another architecture, channel count or width) is a one-line error naming
the first mismatching layer; ``model.init`` with ``resume=PATH`` or ``model.pretrained=true`` is refused.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf, open_dict

import norms
from norms.registry import build_with_group_rule
from suite.resume import LAST, resume_file
from suite.errors import UserError
from suite.models import norm_options
from suite.results import read_metrics

log = logging.getLogger(__name__)

CHECKPOINT_KEY = "normsuite_transfer_parts"  # TaskModule.on_save_checkpoint: {"backbone": ..., "head": ...}


@dataclass
class PretrainedRun:
    """A finished run to start from: its checkpoint and its metrics.json record."""

    init: str
    checkpoint: Path
    record: dict

    @property
    def norm_cfg(self):
        return OmegaConf.create(self.record["config"]["norm"])


def run_checkpoint(run_dir: Path) -> Path:
    """The checkpoint of a run's final weights that ``model.init=<run dir>`` starts from."""
    return Path(run_dir) / "checkpoints" / "fit" / LAST


def find_pretrained_run(init: str) -> PretrainedRun:
    """The run ``model.init`` points at; UserError when it is not a usable run of this suite."""
    path = Path(init).expanduser()
    if path.is_dir():
        run_dir, checkpoint = path, run_checkpoint(path)
        if not checkpoint.is_file():
            raise UserError(f"model.init={init} has no checkpoints/fit/last.ckpt: re-run it with "
                            f"trainer.checkpoint=true, or point model.init at a .ckpt of a run")
    elif path.is_file():
        checkpoint = path
        run_dir = path.parents[2] if len(path.parents) > 2 else path.parent
    else:
        raise UserError(f"model.init={init} does not exist: point it at a run directory "
                        f"(runs/<task>/<norm>/<run-id>) or its checkpoints/fit/last.ckpt")
    metrics = run_dir / "metrics.json"
    if not metrics.is_file():
        raise UserError(f"model.init={init}: no metrics.json at {metrics}, where the norm the checkpoint was "
                        f"trained with is read; point model.init at a run made by this suite")
    record = read_metrics(metrics)
    if record.get("status") in ("failed", "diverged"):
        raise UserError(f"model.init={init}: that run {record['status']} ({record.get('error')}); start from a "
                        f"finished run")
    return PretrainedRun(init, checkpoint, record)


def has_running_statistics(layer: torch.nn.Module) -> bool:
    """True for a norm layer that keeps running statistics (bn, bgn, brn, evonorm_b0, ...)."""
    return any(name.startswith("running_") for name, _ in layer.named_buffers(recurse=False))


def norm_has_running_statistics(norm_cfg) -> bool:
    return has_running_statistics(build_with_group_rule(norm_cfg.name, 8, "norm check", **norm_options(norm_cfg)))


def check_transfer_options(cfg, task) -> None:
    """Validate ``model.init`` and ``model.freeze_norm_stats`` before anything runs (one-line errors)."""
    model = cfg.model
    if model.get("freeze_norm_stats") and not norm_has_running_statistics(cfg.norm):
        raise UserError(f"model.freeze_norm_stats=true but norm={cfg.norm.name} keeps no running statistics to "
                        f"freeze; drop it, or use a norm with running statistics (bn, bgn, ...)")
    init = model.get("init")
    if not init:
        return
    if not task.accepts_init:
        raise UserError(f"task={cfg.task.name} cannot start from a pre-trained run (its networks are searched "
                        f"from scratch): drop model.init")
    if resume_file(cfg.resume) is not None:
        raise UserError("model.init and resume= together: resume continues the same run, model.init starts a "
                        "new run from another run's weights; drop one")
    if model.get("pretrained"):
        raise UserError("model.init and model.pretrained=true together: both choose the starting weights; "
                        "drop one")
    find_pretrained_run(init)


def _with_norm(cfg, norm_cfg):
    copy = cfg.copy()
    with open_dict(copy):
        copy.norm = norm_cfg
    return copy


def _split(state: dict, backbone: str, head: str | None) -> tuple[dict, dict]:
    """(body, head) entries of `state` under ``backbone.``, keyed relative to the backbone."""
    body, head_entries = {}, {}
    for key, tensor in state.items():
        if not key.startswith(backbone + "."):
            continue
        relative = key[len(backbone) + 1:]
        (head_entries if head and key.startswith(head + ".") else body)[relative] = tensor
    return body, head_entries


def _mismatch(init: str, backbone: str, key: str, problem: str) -> UserError:
    layer = f"{backbone}.{key}".rsplit(".", 1)[0]
    return UserError(f"model.init={init} does not fit this model: first mismatching layer {layer} ({problem}); "
                     f"pre-train with the same model.name, model settings and data.channels")


def load_backbone(module, source: PretrainedRun) -> dict[str, torch.Tensor]:
    """Copy the source's backbone (and head where it fits) into `module`; returns what was loaded, by key."""
    checkpoint = torch.load(source.checkpoint, map_location="cpu", weights_only=False)
    backbone, head = module.transfer_parts()
    parts = checkpoint.get(CHECKPOINT_KEY) or {"backbone": backbone, "head": head}  # older runs: same task
    source_body, source_head = _split(checkpoint["state_dict"], parts["backbone"], parts["head"])
    target = module.state_dict()
    target_body, target_head = _split(target, backbone, head)
    for key, tensor in target_body.items():
        if key not in source_body:
            raise _mismatch(source.init, backbone, key, f"{key} is not in the checkpoint")
        if source_body[key].shape != tensor.shape:
            raise _mismatch(source.init, backbone, key, f"{key} is {tuple(source_body[key].shape)} in the "
                                                        f"checkpoint, {tuple(tensor.shape)} here")
    extra = [key for key in source_body if key not in target_body]
    if extra:
        raise _mismatch(source.init, backbone, extra[0], f"{extra[0]} of the checkpoint has no place here")
    loaded = dict(source_body)
    head_fits = bool(target_head) and source_head.keys() == target_head.keys() and all(
        source_head[key].shape == tensor.shape for key, tensor in target_head.items())
    if head_fits:
        loaded.update(source_head)
    elif target_head:
        log.info("model.init: classifier head %s re-initialised (the checkpoint's does not fit: another class "
                 "count)", head)
    module.load_state_dict({**target, **{f"{backbone}.{key}": value for key, value in loaded.items()}})
    return {f"{backbone}.{key}": value for key, value in loaded.items()}


def without_ghost_batches(module: torch.nn.Module) -> torch.nn.Module:
    """`module` with every ``norms.GhostBatch`` wrapper replaced by the layer it wraps, in place."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, norms.GhostBatch):
                setattr(parent, name, child.norm)
    return module


def module_from_pretrained(task, cfg, datamodule):
    """The task's module with its backbone from ``model.init``, converted to the run's norm. A source run
    with ``trainer.norm_batch_size`` (a study cell on the normalization-batch axis) saved its batch-statistics
    layers inside ``norms.GhostBatch`` wrappers: they are loaded wrapped alike, then unwrapped, so that this
    run's own ``trainer.norm_batch_size`` (or none) applies."""
    source = find_pretrained_run(cfg.model.init)
    module = task.module(_with_norm(cfg, source.norm_cfg), datamodule)
    chunk_size = (source.record["config"].get("trainer") or {}).get("norm_batch_size")
    if chunk_size:
        norms.ghost_batches(module, chunk_size)
    load_backbone(module, source)
    without_ghost_batches(module)
    if OmegaConf.to_container(source.norm_cfg) != OmegaConf.to_container(cfg.norm):
        backbone = module.get_submodule(module.transfer_parts()[0])
        norms.convert(backbone, cfg.norm.name, **norm_options(cfg.norm))
    log.info("model.init: backbone from %s (norm %s), run norm %s", source.checkpoint, source.norm_cfg.name,
             cfg.norm.name)
    return module


def freeze_norm_statistics(module) -> tuple[str, ...]:
    """Names of the backbone's norm layers with running statistics, their affine parameters frozen;
    `suite.module.TaskModule` keeps these layers in eval mode."""
    backbone = module.transfer_parts()[0]
    frozen = []
    for name, layer in module.get_submodule(backbone).named_modules():
        if norms.is_norm_layer(layer) and has_running_statistics(layer):
            layer.requires_grad_(False)
            frozen.append(f"{backbone}.{name}")
    log.info("model.freeze_norm_stats: %d norm layers frozen", len(frozen))
    return tuple(frozen)


def prepared_module(task, cfg, datamodule):
    """`task.module`, started from ``model.init`` when set, with ``model.freeze_norm_stats`` and
    ``model.backbone_lr_mult`` applied."""
    model = cfg.model
    module = module_from_pretrained(task, cfg, datamodule) if model.get("init") else task.module(cfg, datamodule)
    module.backbone_lr_mult = model.get("backbone_lr_mult", 1.0)
    if model.get("freeze_norm_stats"):
        module.frozen_norms = freeze_norm_statistics(module)
        module.train(module.training)  # Lightning keeps the mode a module starts fit in, so set it now
    return module
