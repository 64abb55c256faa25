"""Fused Triton kernels for CUDA tensors. Each module imports triton, so ``norms`` imports one only when a
CUDA tensor reaches a layer that has kernels (``norms.batch_group_norm.kernels_for``)."""
