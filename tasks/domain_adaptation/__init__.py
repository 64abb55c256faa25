"""DANN's parts (Ganin & Lempitsky 2015; Ganin et al. 2016), each in its own module:
the gradient reversal layer, the λ and learning-rate schedules, the networks, the
paired source/target data and the LightningModule that puts them together for
``tasks.uda``."""
