"""Fused Triton kernels for Batch Group Normalization's training pass (``norms.batch_group_norm``).

The same contract as the eager ``eager_forward``/``eager_backward`` there, which they are tested against
(tests/norms/test_batch_group_norm_kernels.py, on CPU under ``TRITON_INTERPRET=1``). x (N, C, *) is read
as (N, C, S) with the spatial dimensions collapsed: contiguous (NC*) or channels-last memory as it is,
anything else copied to contiguous first. Statistics accumulate in float32 whatever the input dtype.

Forward, three launches: per-channel partial (mean, M2) over chunks of the N·S positions, merged with Chan
et al.'s parallel formula (exact where sums of squares would cancel); one program per group merging those
into the group's mean and variance and writing per-channel scale and shift; one elementwise pass
y = x·scale_c + shift_c. Backward, three launches: per-channel partial Σdy and Σdy·x̂; one program per group
giving grad_weight, grad_bias and the coefficients of dx = A_c·dy + B_c·x + C_c; one elementwise pass.
"""
import contextlib
from typing import NamedTuple

import torch
import triton
import triton.language as tl

# Tile of the reduction kernels (positions x channels) and elements per program of the elementwise ones.
TILE_VALUES = 2048
ELEMENTWISE_BLOCK = 1024
# Enough reduction programs to fill a large GPU (an H100 has 132 SMs) without tiny chunks.
TARGET_PROGRAMS = 1024


@triton.jit
def _channel_moments_kernel(x_ptr, mean_ptr, m2_ptr, positions, spatial, channels, stride_n, stride_s,
                            stride_c, tiles_per_chunk, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    """Program (chunk, channel block): mean and M2 of each channel over its chunk of the N·S positions."""
    chunk, channel_block = tl.program_id(0), tl.program_id(1)
    c = channel_block * BLOCK_C + tl.arange(0, BLOCK_C)
    c_mask = c < channels
    count = tl.zeros([BLOCK_C], dtype=tl.float32)
    mean = tl.zeros([BLOCK_C], dtype=tl.float32)
    m2 = tl.zeros([BLOCK_C], dtype=tl.float32)
    for tile in range(0, tiles_per_chunk):
        start = (chunk * tiles_per_chunk + tile) * BLOCK_R
        r = start + tl.arange(0, BLOCK_R)
        n, s = r // spatial, r % spatial
        mask = (r < positions)[:, None] & c_mask[None, :]
        offsets = n.to(tl.int64)[:, None] * stride_n + s.to(tl.int64)[:, None] * stride_s + c[None, :] * stride_c
        x = tl.load(x_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
        tile_count = tl.minimum(tl.maximum(positions - start, 0), BLOCK_R).to(tl.float32)
        tile_mean = tl.sum(x, 0) / tl.maximum(tile_count, 1.0)
        deviation = tl.where(mask, x - tile_mean[None, :], 0.0)
        tile_m2 = tl.sum(deviation * deviation, 0)
        # Chan's merge of (count, mean, m2) with the tile's; a tile past the end has count 0 and changes nothing.
        total = tl.maximum(count + tile_count, 1.0)
        delta = tile_mean - mean
        mean += delta * (tile_count / total)
        m2 += tile_m2 + delta * delta * (count * tile_count / total)
        count += tile_count
    tl.store(mean_ptr + chunk * channels + c, mean, mask=c_mask)
    tl.store(m2_ptr + chunk * channels + c, m2, mask=c_mask)


@triton.jit
def _group_tile(g, k0, j0, positions, chunk_positions, num_chunks, channels_per_group, num_groups,
                INTERLEAVED: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_J: tl.constexpr):
    """The tile of chunks k0.. and group-g channels j0.. of the partial moments: the chunk indices k, each
    chunk's value count, the channel indices c and the tile's mask."""
    k = k0 + tl.arange(0, BLOCK_K)
    j = j0 + tl.arange(0, BLOCK_J)
    chunk_count = tl.minimum(tl.maximum(positions - k * chunk_positions, 0), chunk_positions).to(tl.float32)
    c = g + j * num_groups if INTERLEAVED else g * channels_per_group + j
    mask = (k < num_chunks)[:, None] & (j < channels_per_group)[None, :]
    return k, chunk_count, c, mask


@triton.jit
def _group_statistics_kernel(partial_mean_ptr, partial_m2_ptr, weight_ptr, bias_ptr, mean_ptr, var_ptr,
                             invstd_ptr, scale_ptr, shift_ptr, positions, chunk_positions, num_chunks, channels,
                             channels_per_group, num_groups, eps, HAS_WEIGHT: tl.constexpr,
                             INTERLEAVED: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_J: tl.constexpr):
    """Program g: merge the partial moments of group g's channels; write its statistics and, per channel,
    scale = weight·invstd and shift = bias - mean·scale."""
    g = tl.program_id(0)
    group_values = (positions * channels_per_group).to(tl.float32)
    weighted_sum = tl.zeros([BLOCK_K, BLOCK_J], dtype=tl.float32)
    for k0 in range(0, num_chunks, BLOCK_K):
        for j0 in range(0, channels_per_group, BLOCK_J):
            k, chunk_count, c, mask = _group_tile(g, k0, j0, positions, chunk_positions, num_chunks,
                                                  channels_per_group, num_groups, INTERLEAVED, BLOCK_K, BLOCK_J)
            m = tl.load(partial_mean_ptr + k[:, None] * channels + c[None, :], mask=mask, other=0.0)
            weighted_sum += chunk_count[:, None] * m
    mean = tl.sum(tl.sum(weighted_sum, 1), 0) / group_values
    m2_sum = tl.zeros([BLOCK_K, BLOCK_J], dtype=tl.float32)
    for k0 in range(0, num_chunks, BLOCK_K):
        for j0 in range(0, channels_per_group, BLOCK_J):
            k, chunk_count, c, mask = _group_tile(g, k0, j0, positions, chunk_positions, num_chunks,
                                                  channels_per_group, num_groups, INTERLEAVED, BLOCK_K, BLOCK_J)
            m = tl.load(partial_mean_ptr + k[:, None] * channels + c[None, :], mask=mask, other=0.0)
            m2 = tl.load(partial_m2_ptr + k[:, None] * channels + c[None, :], mask=mask, other=0.0)
            deviation = tl.where(mask, m - mean, 0.0)
            m2_sum += m2 + chunk_count[:, None] * deviation * deviation
    var = tl.sum(tl.sum(m2_sum, 1), 0) / group_values
    invstd = 1.0 / tl.sqrt(var + eps)
    tl.store(mean_ptr + g, mean)
    tl.store(var_ptr + g, var)
    tl.store(invstd_ptr + g, invstd)
    for j0 in range(0, channels_per_group, BLOCK_J):
        j = j0 + tl.arange(0, BLOCK_J)
        c = g + j * num_groups if INTERLEAVED else g * channels_per_group + j
        j_mask = j < channels_per_group
        scale = invstd + tl.zeros([BLOCK_J], dtype=tl.float32)
        shift = tl.zeros([BLOCK_J], dtype=tl.float32)
        if HAS_WEIGHT:
            scale = scale * tl.load(weight_ptr + c, mask=j_mask, other=1.0).to(tl.float32)
            shift = tl.load(bias_ptr + c, mask=j_mask, other=0.0).to(tl.float32)
        tl.store(scale_ptr + c, scale, mask=j_mask)
        tl.store(shift_ptr + c, shift - mean * scale, mask=j_mask)


@triton.jit
def _channel_affine_kernel(x_ptr, other_ptr, out_ptr, a_ptr, b_ptr, c_ptr, numel, channels, stride_c,
                           HAS_OTHER: tl.constexpr, BLOCK: tl.constexpr):
    """out = x·a_c + c_c (+ other·b_c): the forward's normalize-affine and the backward's dx, elementwise over
    memory; x, other and out share strides, so the channel of offset o is (o // stride_c) mod C."""
    offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < numel
    channel = (offsets // stride_c) % channels
    x = tl.load(x_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    out = x * tl.load(a_ptr + channel, mask=mask, other=0.0) + tl.load(c_ptr + channel, mask=mask, other=0.0)
    if HAS_OTHER:
        other = tl.load(other_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
        out += other * tl.load(b_ptr + channel, mask=mask, other=0.0)
    tl.store(out_ptr + offsets, out.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _channel_gradient_sums_kernel(grad_ptr, x_ptr, mean_ptr, invstd_ptr, sum_dy_ptr, sum_dy_xhat_ptr, positions,
                                  spatial, channels, channels_per_group, num_groups, stride_n, stride_s, stride_c,
                                  tiles_per_chunk, INTERLEAVED: tl.constexpr, BLOCK_R: tl.constexpr,
                                  BLOCK_C: tl.constexpr):
    """Program (chunk, channel block): Σdy and Σdy·x̂ of each channel over its chunk of positions."""
    chunk, channel_block = tl.program_id(0), tl.program_id(1)
    c = channel_block * BLOCK_C + tl.arange(0, BLOCK_C)
    c_mask = c < channels
    group = c % num_groups if INTERLEAVED else c // channels_per_group
    mean = tl.load(mean_ptr + group, mask=c_mask, other=0.0)
    invstd = tl.load(invstd_ptr + group, mask=c_mask, other=0.0)
    sum_dy = tl.zeros([BLOCK_C], dtype=tl.float32)
    sum_dy_xhat = tl.zeros([BLOCK_C], dtype=tl.float32)
    for tile in range(0, tiles_per_chunk):
        r = (chunk * tiles_per_chunk + tile) * BLOCK_R + tl.arange(0, BLOCK_R)
        n, s = r // spatial, r % spatial
        mask = (r < positions)[:, None] & c_mask[None, :]
        offsets = n.to(tl.int64)[:, None] * stride_n + s.to(tl.int64)[:, None] * stride_s + c[None, :] * stride_c
        dy = tl.load(grad_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
        x = tl.load(x_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
        sum_dy += tl.sum(dy, 0)
        sum_dy_xhat += tl.sum(dy * tl.where(mask, (x - mean[None, :]) * invstd[None, :], 0.0), 0)
    tl.store(sum_dy_ptr + chunk * channels + c, sum_dy, mask=c_mask)
    tl.store(sum_dy_xhat_ptr + chunk * channels + c, sum_dy_xhat, mask=c_mask)


@triton.jit
def _group_gradient_kernel(partial_dy_ptr, partial_dy_xhat_ptr, weight_ptr, mean_ptr, invstd_ptr, sum_dy_ptr,
                           sum_dy_xhat_ptr, scale_dy_ptr, scale_x_ptr, shift_ptr, num_chunks, channels,
                           channels_per_group, num_groups, group_values, HAS_WEIGHT: tl.constexpr,
                           INTERLEAVED: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_J: tl.constexpr):
    """Program g: per channel of group g, Σdy and Σdy·x̂ (grad_bias, grad_weight); then, with ĝ = dy·weight,
    dx = invstd·(ĝ - mean_g(ĝ) - x̂·mean_g(ĝ·x̂)) = scale_dy·dy + scale_x·x + shift per channel."""
    g = tl.program_id(0)
    mean, invstd = tl.load(mean_ptr + g), tl.load(invstd_ptr + g)
    weighted_dy = tl.zeros([BLOCK_J], dtype=tl.float32)
    weighted_dy_xhat = tl.zeros([BLOCK_J], dtype=tl.float32)
    for j0 in range(0, channels_per_group, BLOCK_J):
        j = j0 + tl.arange(0, BLOCK_J)
        c = g + j * num_groups if INTERLEAVED else g * channels_per_group + j
        j_mask = j < channels_per_group
        dy = tl.zeros([BLOCK_J], dtype=tl.float32)
        dy_xhat = tl.zeros([BLOCK_J], dtype=tl.float32)
        for k0 in range(0, num_chunks, BLOCK_K):
            k = k0 + tl.arange(0, BLOCK_K)
            mask = (k < num_chunks)[:, None] & j_mask[None, :]
            dy += tl.sum(tl.load(partial_dy_ptr + k[:, None] * channels + c[None, :], mask=mask, other=0.0), 0)
            dy_xhat += tl.sum(tl.load(partial_dy_xhat_ptr + k[:, None] * channels + c[None, :], mask=mask,
                                      other=0.0), 0)
        tl.store(sum_dy_ptr + c, dy, mask=j_mask)
        tl.store(sum_dy_xhat_ptr + c, dy_xhat, mask=j_mask)
        gamma = tl.load(weight_ptr + c, mask=j_mask, other=0.0).to(tl.float32) if HAS_WEIGHT else 1.0
        weighted_dy += tl.where(j_mask, dy * gamma, 0.0)
        weighted_dy_xhat += tl.where(j_mask, dy_xhat * gamma, 0.0)
    mean_dy = tl.sum(weighted_dy, 0) / group_values
    mean_dy_xhat = tl.sum(weighted_dy_xhat, 0) / group_values
    scale_x = -invstd * invstd * mean_dy_xhat
    shift = -invstd * mean_dy - scale_x * mean
    for j0 in range(0, channels_per_group, BLOCK_J):
        j = j0 + tl.arange(0, BLOCK_J)
        c = g + j * num_groups if INTERLEAVED else g * channels_per_group + j
        j_mask = j < channels_per_group
        gamma = tl.load(weight_ptr + c, mask=j_mask, other=0.0).to(tl.float32) if HAS_WEIGHT else 1.0
        tl.store(scale_dy_ptr + c, invstd * gamma + tl.zeros([BLOCK_J], dtype=tl.float32), mask=j_mask)
        tl.store(scale_x_ptr + c, scale_x + tl.zeros([BLOCK_J], dtype=tl.float32), mask=j_mask)
        tl.store(shift_ptr + c, shift + tl.zeros([BLOCK_J], dtype=tl.float32), mask=j_mask)


def _as_nsc(x: torch.Tensor) -> tuple[torch.Tensor, int, int, int]:
    """x (or a contiguous copy) and its strides over (n, s, c), the spatial dimensions collapsed into s."""
    channels, spatial = x.shape[1], x[0, 0].numel()
    if x.is_contiguous():
        return x, channels * spatial, 1, spatial
    if x.movedim(1, -1).is_contiguous():  # channels-last memory: (N, *, C)
        return x, spatial * channels, channels, 1
    x = x.contiguous()
    return x, channels * spatial, 1, spatial


def _like(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """t with x's memory layout (copied only when its strides differ)."""
    return t if t.stride() == x.stride() else torch.empty_like(x, dtype=t.dtype).copy_(t)


class _Reduction(NamedTuple):
    """x (or a contiguous copy) with its strides over (n, s, c), and the chunked grid that reduces its N·S
    positions per channel: tiles of BLOCK_R positions x BLOCK_C channels, long along the memory-contiguous axis."""
    x: torch.Tensor
    stride_n: int
    stride_s: int
    stride_c: int
    positions: int
    block_r: int
    block_c: int
    tiles_per_chunk: int
    chunk_positions: int
    num_chunks: int

    @property
    def grid(self) -> tuple[int, int]:
        return self.num_chunks, triton.cdiv(self.x.shape[1], self.block_c)

    def partials(self) -> torch.Tensor:
        """An empty float32 (chunks, C) buffer for per-chunk per-channel sums."""
        return torch.empty(self.num_chunks, self.x.shape[1], device=self.x.device, dtype=torch.float32)


def _reduction(x: torch.Tensor) -> _Reduction:
    x, stride_n, stride_s, stride_c = _as_nsc(x)
    positions, channels = x.shape[0] * x[0, 0].numel(), x.shape[1]
    if stride_c == 1 and channels > 1:  # channels-last: channels are adjacent in memory
        block_c = min(64, triton.next_power_of_2(channels))
    else:
        block_c = min(4, triton.next_power_of_2(channels))
    block_r = max(16, TILE_VALUES // block_c)
    tiles = triton.cdiv(positions, block_r)
    chunks_wanted = max(1, TARGET_PROGRAMS // triton.cdiv(channels, block_c))
    tiles_per_chunk = triton.cdiv(tiles, min(tiles, chunks_wanted))
    chunk_positions = tiles_per_chunk * block_r
    return _Reduction(x, stride_n, stride_s, stride_c, positions, block_r, block_c, tiles_per_chunk, chunk_positions,
                      triton.cdiv(positions, chunk_positions))


def _group_blocks(num_chunks: int, channels_per_group: int) -> tuple[int, int]:
    block_j = min(64, triton.next_power_of_2(channels_per_group))
    return max(1, min(64, triton.next_power_of_2(num_chunks), 4096 // block_j)), block_j


def _channel_affine(x, other, a, b, c, out_dtype, stride_c):
    out = torch.empty_like(x, dtype=out_dtype)
    numel = x.numel()
    _channel_affine_kernel[(triton.cdiv(numel, ELEMENTWISE_BLOCK),)](
        x, other if other is not None else x, out, a, b if b is not None else a, c, numel, x.shape[1], stride_c,
        HAS_OTHER=other is not None, BLOCK=ELEMENTWISE_BLOCK)
    return out


def _on_device_of(x: torch.Tensor):
    """Launch on x's GPU (Triton launches on the current device); CPU tensors only run interpreted."""
    return torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext()


def forward(x, weight, bias, num_groups: int, eps: float, interleaved: bool):
    """-> (y like x, mean (G,), biased var (G,), invstd (G,)), statistics float32; see eager_forward."""
    with _on_device_of(x):
        return _forward(x, weight, bias, num_groups, eps, interleaved)


def backward(grad_y, x, weight, mean, invstd, num_groups: int, interleaved: bool):
    """-> (grad_x like x, Σdy·x̂ (C,), Σdy (C,)), sums float32; see eager_backward."""
    with _on_device_of(x):
        return _backward(grad_y, x, weight, mean, invstd, num_groups, interleaved)


def _forward(x, weight, bias, num_groups, eps, interleaved):
    r = _reduction(x)
    channels = r.x.shape[1]
    partial_mean, partial_m2 = r.partials(), r.partials()
    _channel_moments_kernel[r.grid](
        r.x, partial_mean, partial_m2, r.positions, r.x[0, 0].numel(), channels, r.stride_n, r.stride_s, r.stride_c,
        r.tiles_per_chunk, BLOCK_R=r.block_r, BLOCK_C=r.block_c)
    stats = {"device": r.x.device, "dtype": torch.float32}
    mean, var, invstd = (torch.empty(num_groups, **stats) for _ in range(3))
    scale, shift = torch.empty(channels, **stats), torch.empty(channels, **stats)
    block_k, block_j = _group_blocks(r.num_chunks, channels // num_groups)
    _group_statistics_kernel[(num_groups,)](
        partial_mean, partial_m2, weight if weight is not None else scale, bias if bias is not None else shift,
        mean, var, invstd, scale, shift, r.positions, r.chunk_positions, r.num_chunks, channels,
        channels // num_groups, num_groups, eps, HAS_WEIGHT=weight is not None, INTERLEAVED=interleaved,
        BLOCK_K=block_k, BLOCK_J=block_j)
    y = _channel_affine(r.x, None, scale, None, shift, r.x.dtype, r.stride_c)
    return y, mean, var, invstd


def _backward(grad_y, x, weight, mean, invstd, num_groups, interleaved):
    r = _reduction(x)
    grad_y = _like(grad_y, r.x)
    channels = r.x.shape[1]
    partial_dy, partial_dy_xhat = r.partials(), r.partials()
    _channel_gradient_sums_kernel[r.grid](
        grad_y, r.x, mean, invstd, partial_dy, partial_dy_xhat, r.positions, r.x[0, 0].numel(), channels,
        channels // num_groups, num_groups, r.stride_n, r.stride_s, r.stride_c, r.tiles_per_chunk,
        INTERLEAVED=interleaved, BLOCK_R=r.block_r, BLOCK_C=r.block_c)
    sum_dy, sum_dy_xhat, scale_dy, scale_x, shift = (
        torch.empty(channels, device=r.x.device, dtype=torch.float32) for _ in range(5))
    block_k, block_j = _group_blocks(r.num_chunks, channels // num_groups)
    _group_gradient_kernel[(num_groups,)](
        partial_dy, partial_dy_xhat, weight if weight is not None else scale_dy, mean, invstd, sum_dy, sum_dy_xhat,
        scale_dy, scale_x, shift, r.num_chunks, channels, channels // num_groups, num_groups,
        float(r.positions * (channels // num_groups)), HAS_WEIGHT=weight is not None, INTERLEAVED=interleaved,
        BLOCK_K=block_k, BLOCK_J=block_j)
    grad_x = _channel_affine(r.x, grad_y, scale_x, scale_dy, shift, r.x.dtype, r.stride_c)
    return grad_x, sum_dy_xhat, sum_dy
