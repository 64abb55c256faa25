"""The method core of task `adv` (PGD adversarial training, Madry et al. 2018), one job per module
(shared with other tasks: the norm-mode switch `suite.norm_modes.norms_in_mode` and the fast digits model
`suite.models.SmallConvNet`).

    attacks.adversarial_examples(network, images, labels, "pgd", ThreatModel(...), "eval") -> torchattacks, pixel space
"""
