"""The method core of task `adv` (PGD adversarial training, Madry et al. 2018), one job per module
(the norm-mode switch they use is shared: `suite.norm_modes.norms_in_mode`).

    attacks.adversarial_examples(network, images, labels, "pgd", ThreatModel(...), "eval") -> torchattacks, pixel space
    small_cnn.SmallConvNet(in_channels, num_classes, norm_layer) -> the fast digits model
"""
