"""Pieces of task `fsl` (prototypical few-shot learning), one job per module:

- `protonet`: prototypes, distances and the prototypical loss (Snell et al. 2017).
- `backbones`: Conv-4 and ResNet-12 embedding networks with the configured norm.
- `episodes`: learn2learn episode sampling and the support/query split.
- `datasets`: the episodic datasets (digits, omniglot, mini_imagenet, cifarfs, fc100) by name.
- `episodic_only`: the plain-dataset entry of the benchmarks, an error for every task but fsl.
- `norm_mode`: `evaluation_statistics`, running or episode statistics at evaluation time.
- `confidence`: mean accuracy over episodes and its 95% confidence interval.
"""
