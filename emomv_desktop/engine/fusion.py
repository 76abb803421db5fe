"""Inference-only rewrites of the backbones for a CPU, each the same network to fp32 rounding or exactly.

* :func:`fuse_slowfast`: SlowFast-R50 for fp32: BatchNorm folded into the convolutions, ReLU and the residual
  add + ReLU as oneDNN post-ops, every convolution through oneDNN.
* :func:`use_pair_max_pools`: VGGish's 2x2 max-pools as two elementwise maxima on the NHWC layout
  (:class:`PairMaxPool2d`), bit for bit PyTorch's, at any precision.

Why SlowFast is fused (torch.profiler, one 256-px clip, 2-core AVX-512 CPU, docs/engine-features.md): of the
plain network's fp32 CPU time only ~31% was oneDNN convolution. BatchNorm took ~17%, ReLU ~12%, the residual
adds ~11% and layout copies ~6%, each a full pass over a large activation tensor. Another ~15% went to
``slow_conv3d_forward``: PyTorch sends a batch-1 convolution with few channels and a small kernel (the fast
pathway's 8-32-channel convolutions) to its im2col fallback instead of oneDNN (an 11.7x slower kernel for
one of them). Here each ``Conv3d -> BatchNorm3d [-> ReLU]`` becomes one oneDNN call
(``torch.ops.mkldnn._convolution_pointwise``, the op behind inductor's CPU conv fusions), and each bottleneck's
last convolution also takes the shortcut (``_convolution_pointwise.binary``: conv + add + ReLU).

Exactness: the same fp32 arithmetic; only the rounding moves (BN's scale is multiplied into the weights once, in
float64, and oneDNN may sum in another order): features agree with pytorchvideo's plain network within ~1e-6
relative (tested with non-trivial BatchNorm statistics), the class of difference channels_last already made,
and three orders of magnitude below bf16's. It is applied to fp32 on CPUs only: bf16 (``Precision.FAST``)
keeps autocast, whose fidelity was measured, and CUDA keeps cuDNN (not measurable without a GPU here).

The rewrite is in place and specific to pytorchvideo's ResNet building blocks (stem, bottleneck residual
block, fast-to-slow fusion); a module of another shape is left as it is, so the result is always the same
network. The fused model's ``state_dict`` no longer matches the checkpoint layout: load weights first.
"""

from __future__ import annotations

import functools
import logging

import torch
from torch import nn

__all__ = ["FusedConv3d", "FusedResBlock", "PairMaxPool2d", "fusion_available", "fuse_slowfast", "use_pair_max_pools"]

_log = logging.getLogger(__name__)


def _ints(value, dims: int = 3) -> list[int]:
    if isinstance(value, int):
        return [value] * dims
    if isinstance(value, str):  # padding="same"/"valid": not produced by pytorchvideo's builders
        raise ValueError(f"string padding {value!r} cannot be fused")
    return [int(v) for v in value]


class FusedConv3d(nn.Module):
    """``relu?(bn(conv(x)) [+ residual])`` as one oneDNN convolution, BatchNorm folded into its weights.

    The folded weight and bias are computed in float64 from the conv's weight/bias and the BatchNorm's running
    statistics and affine parameters (eval-mode BatchNorm is an affine map per channel), then stored as fp32,
    the weight in channels_last_3d (oneDNN's preferred input for it).
    """

    def __init__(self, conv: nn.Conv3d, norm: nn.BatchNorm3d | None, *, relu: bool) -> None:
        super().__init__()
        weight = conv.weight.detach().to(torch.float64)
        bias = (conv.bias.detach().to(torch.float64) if conv.bias is not None
                else torch.zeros(conv.out_channels, dtype=torch.float64, device=weight.device))
        if norm is not None:
            if not norm.track_running_stats or norm.running_var is None:
                raise ValueError("only a BatchNorm with running statistics can be folded")
            scale = torch.rsqrt(norm.running_var.detach().to(torch.float64) + norm.eps)
            if norm.affine:
                scale = scale * norm.weight.detach().to(torch.float64)
            shift = -norm.running_mean.detach().to(torch.float64) * scale
            if norm.affine:
                shift = shift + norm.bias.detach().to(torch.float64)
            weight = weight * scale.view(-1, 1, 1, 1, 1)
            bias = bias * scale + shift
        self.register_buffer("weight", weight.to(torch.float32).contiguous(memory_format=torch.channels_last_3d))
        self.register_buffer("bias", bias.to(torch.float32))
        self.padding = _ints(conv.padding)
        self.stride = _ints(conv.stride)
        self.dilation = _ints(conv.dilation)
        self.groups = int(conv.groups)
        self.relu = relu

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        args = (self.weight, self.bias, self.padding, self.stride, self.dilation, self.groups)
        if residual is None:
            return torch.ops.mkldnn._convolution_pointwise(x, *args, "relu" if self.relu else "none", [], "")
        return torch.ops.mkldnn._convolution_pointwise.binary(
            x, residual, *args, "add", 1.0, "relu" if self.relu else None, [], None
        )

    def extra_repr(self) -> str:
        out, inp = self.weight.shape[:2]
        return (f"{inp}, {out}, kernel={tuple(self.weight.shape[2:])}, stride={tuple(self.stride)}, "
                f"padding={tuple(self.padding)}, relu={self.relu}")


class FusedResBlock(nn.Module):
    """pytorchvideo's ``ResBlock`` around a ``BottleneckBlock``: ``relu(c(b(a(x))) + shortcut(x))`` with the
    add and the final ReLU fused into ``c``'s convolution."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        branch = block.branch2
        self.shortcut = (FusedConv3d(block.branch1_conv, block.branch1_norm, relu=False)
                         if block.branch1_conv is not None else None)
        self.conv_a = FusedConv3d(branch.conv_a, branch.norm_a, relu=branch.act_a is not None)
        self.conv_b = FusedConv3d(branch.conv_b, branch.norm_b, relu=branch.act_b is not None)
        self.conv_c = FusedConv3d(branch.conv_c, branch.norm_c, relu=block.activation is not None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.shortcut(x) if self.shortcut is not None else x
        return self.conv_c(self.conv_b(self.conv_a(x)), shortcut)


def _is(module: nn.Module | None, kind: type) -> bool:
    return module is None or type(module) is kind


def _fusable_res_block(block: nn.Module) -> bool:
    from pytorchvideo.models.resnet import BottleneckBlock

    branch = getattr(block, "branch2", None)
    return (
        type(branch) is BottleneckBlock
        and type(branch.conv_a) is nn.Conv3d and type(branch.conv_b) is nn.Conv3d and type(branch.conv_c) is nn.Conv3d
        and all(_is(m, nn.BatchNorm3d) for m in (branch.norm_a, branch.norm_b, branch.norm_c, block.branch1_norm))
        and all(_is(m, nn.ReLU) for m in (branch.act_a, branch.act_b, block.activation))
        and _is(block.branch1_conv, nn.Conv3d)
        and _adds(block.branch_fusion)
    )


def _adds(fusion) -> bool:
    """Whether a ResBlock's ``branch_fusion`` is the plain sum (pytorchvideo's default ``lambda x, y: x + y``)."""
    probe = torch.tensor([1.5]), torch.tensor([2.25])
    try:
        return bool(torch.equal(fusion(*probe), probe[0] + probe[1]))
    except Exception:  # noqa: BLE001 - anything else is not fused
        return False


def fuse_slowfast(model: nn.Module) -> int:
    """Rewrite ``model`` (a pytorchvideo SlowFast/ResNet in eval mode, weights loaded) in place; returns how many
    convolutions now run fused. Stems, residual blocks and fast-to-slow fusions are rewritten; anything else is
    left as it is."""
    from pytorchvideo.models.resnet import ResBlock
    from pytorchvideo.models.slowfast import FuseFastToSlow
    from pytorchvideo.models.stem import ResNetBasicStem

    if model.training:
        raise ValueError("fuse_slowfast folds BatchNorm's running statistics: put the model in eval mode first")
    fused = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is ResBlock and _fusable_res_block(child):
                setattr(parent, name, FusedResBlock(child))
                fused += 3 + (child.branch1_conv is not None)
            elif (type(child) is ResNetBasicStem and type(child.conv) is nn.Conv3d and _is(child.norm, nn.BatchNorm3d)
                  and _is(child.activation, nn.ReLU)):
                child.conv = FusedConv3d(child.conv, child.norm, relu=child.activation is not None)
                child.norm = child.activation = None
                fused += 1
            elif (type(child) is FuseFastToSlow and type(child.conv_fast_to_slow) is nn.Conv3d
                  and _is(child.norm, nn.BatchNorm3d) and _is(child.activation, nn.ReLU)):
                child.conv_fast_to_slow = FusedConv3d(child.conv_fast_to_slow, child.norm,
                                                      relu=child.activation is not None)
                child.norm = child.activation = None
                fused += 1
    return fused


@functools.cache
def fusion_available() -> bool:
    """Whether this torch build runs oneDNN's fused convolutions (probed once on a tiny 3-D convolution)."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        with torch.random.fork_rng(devices=[]):  # the probe's random init must not move the caller's generator
            conv = nn.Conv3d(2, 2, (1, 3, 3), padding=(0, 1, 1)).eval()
            x = torch.randn(1, 2, 2, 5, 5).contiguous(memory_format=torch.channels_last_3d)
        fused = FusedConv3d(conv, None, relu=True)
        with torch.inference_mode():
            return bool(torch.allclose(fused(x), torch.relu(conv(x)), atol=1e-5))
    except Exception:  # noqa: BLE001 - a build without the op: the plain network runs
        _log.info("oneDNN fused convolutions are not available in this torch build; SlowFast runs unfused",
                  exc_info=True)
        return False


class PairMaxPool2d(nn.Module):
    """``max_pool2d(x, 2, 2)`` for a channels_last input of even height and width: the larger of each pair of
    neighbouring columns, then of each pair of rows, as views of the (N, H, W, C) memory.

    PyTorch's CPU max-pool always computes the argmax indices as well (``max_pool2d_with_indices``), and for
    VGGish's first pool in bf16 took 26.5 ms per 64 examples where this takes 5.3 ms (fp32: 34.9 / 34.2 ms;
    ``docs/engine-features.md``). A maximum involves no rounding, so the output is PyTorch's bit for bit (tested,
    NaN included); any other layout or an odd size goes to ``max_pool2d`` itself.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        if h % 2 or w % 2 or not x.is_contiguous(memory_format=torch.channels_last):
            return nn.functional.max_pool2d(x, 2, 2)
        rows = x.permute(0, 2, 3, 1).reshape(n, h, w // 2, 2 * c)  # a view: two neighbouring pixels per row
        rows = torch.maximum(rows[..., :c], rows[..., c:])  # (n, h, w/2, c)
        pairs = rows.reshape(n, h // 2, 2, w // 2, c)
        return torch.maximum(pairs[:, :, 0], pairs[:, :, 1]).permute(0, 3, 1, 2)  # (n, c, h/2, w/2), NHWC memory


def use_pair_max_pools(model: nn.Module) -> int:
    """Replace every ``MaxPool2d(2, 2)`` (no padding, dilation or ceil mode) of ``model`` by :class:`PairMaxPool2d`
    in place; returns how many."""
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if (type(child) is nn.MaxPool2d and _ints(child.kernel_size, 2) == [2, 2]
                    and _ints(child.stride or child.kernel_size, 2) == [2, 2] and _ints(child.padding, 2) == [0, 0]
                    and _ints(child.dilation, 2) == [1, 1] and not child.ceil_mode and not child.return_indices):
                setattr(parent, name, PairMaxPool2d())
                replaced += 1
    return replaced
