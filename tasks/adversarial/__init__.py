"""The method core of task `adv` (PGD adversarial training, Madry et al. 2018), one job per module.

    norm_modes.attack_norm_mode(network, "train")  -> context: norms on batch statistics, buffers restored
    attacks.adversarial_examples(network, images, labels, "pgd", ThreatModel(...), "eval") -> torchattacks, pixel space
    small_cnn.SmallConvNet(in_channels, num_classes, norm_layer) -> the fast digits model
"""
