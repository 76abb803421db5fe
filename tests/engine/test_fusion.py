"""engine.fusion: SlowFast with BatchNorm folded and ReLU / residual add fused into oneDNN convolutions, and
VGGish's max-pools as elementwise maxima.

Each rewrite must be the same network: compared module by module and end to end with the plain network, with
non-trivial BatchNorm statistics (random init would make every fold the identity)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from emomv_desktop.engine import backbones, fusion
from tests.engine.helpers import randomised_slowfast

needs_fused_ops = pytest.mark.skipif(
    not fusion.fusion_available(),
    reason="this torch build has no oneDNN fused convolutions (built without MKLDNN): the app runs SlowFast "
    "unfused there, which test_without_the_fused_ops_slowfast_runs_the_plain_network covers",
)


def _ndhwc(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last_3d)


def _batch_norm(channels: int, seed: int) -> nn.BatchNorm3d:
    """Signed, wide statistics and affine parameters (a negative scale folds too); the whole-network tests use
    milder ones (tests.engine.helpers.randomised_slowfast) so activations stay in range through 50 layers."""
    generator = torch.Generator().manual_seed(seed)
    norm = nn.BatchNorm3d(channels, eps=1e-5)
    norm.running_mean.copy_(torch.randn(channels, generator=generator))
    norm.running_var.copy_(torch.rand(channels, generator=generator) * 3 + 0.1)
    norm.weight.data.copy_(torch.randn(channels, generator=generator))
    norm.bias.data.copy_(torch.randn(channels, generator=generator))
    return norm.eval()


@needs_fused_ops
@pytest.mark.parametrize(
    "kernel, stride, padding, bias",
    [((1, 3, 3), (1, 2, 2), (0, 1, 1), False),  # a bottleneck's spatial conv, strided
     ((3, 1, 1), 1, (1, 0, 0), True),  # temporal
     ((7, 1, 1), (4, 1, 1), (3, 0, 0), False)],  # fast-to-slow fusion
)
@pytest.mark.parametrize("relu", [True, False])
def test_a_fused_conv_is_conv_then_batch_norm_then_relu(kernel, stride, padding, bias, relu):
    torch.manual_seed(0)
    conv = nn.Conv3d(8, 16, kernel, stride=stride, padding=padding, bias=bias).eval()
    norm = _batch_norm(16, seed=1)
    x = _ndhwc(torch.randn(1, 8, 9, 12, 12))
    with torch.inference_mode():
        expected = norm(conv(x))
        if relu:
            expected = torch.relu(expected)
        got = fusion.FusedConv3d(conv, norm, relu=relu)(x)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        if relu:
            assert (got >= 0).all()


@needs_fused_ops
def test_a_fused_conv_adds_the_shortcut_before_its_relu():
    torch.manual_seed(0)
    conv, norm = nn.Conv3d(8, 8, 1, bias=False).eval(), _batch_norm(8, seed=2)
    x, shortcut = _ndhwc(torch.randn(1, 8, 4, 6, 6)), _ndhwc(torch.randn(1, 8, 4, 6, 6))
    kept = shortcut.clone()
    with torch.inference_mode():
        got = fusion.FusedConv3d(conv, norm, relu=True)(x, shortcut)
        torch.testing.assert_close(got, torch.relu(norm(conv(x)) + shortcut), rtol=1e-5, atol=1e-5)
    assert torch.equal(shortcut, kept)  # out of place: the block's input is not overwritten


@needs_fused_ops
def test_fusing_slowfast_leaves_no_batch_norm_and_the_same_features():
    """Every conv of SlowFast-R50 runs fused (no BatchNorm or plain Conv3d left) and the 2304-d features equal
    the plain network's within fp32 rounding (measured ~5e-7 relative)."""
    plain = randomised_slowfast(seed=7)
    plain.blocks[-1].proj = nn.Identity()
    plain = plain.to(memory_format=torch.channels_last_3d)
    fused = copy.deepcopy(plain)
    convs = sum(isinstance(m, nn.Conv3d) for m in plain.modules())
    assert fusion.fuse_slowfast(fused) == convs
    assert not any(isinstance(m, (nn.BatchNorm3d, nn.Conv3d)) for m in fused.modules())
    torch.manual_seed(8)
    clip = torch.randn(1, 3, 32, 256, 256)
    with torch.inference_mode():
        expected = plain([_ndhwc(p) for p in backbones.pack_pathways(clip)])
        got = fused([_ndhwc(p) for p in backbones.pack_pathways(clip)])
    assert ((got - expected).abs().max() / expected.abs().max()).item() < 1e-5
    assert torch.nn.functional.cosine_similarity(got, expected).item() > 1 - 1e-6


def test_without_the_fused_ops_slowfast_runs_the_plain_network(monkeypatch):
    """A torch build without oneDNN's fused convolutions (the probe says no) gets pytorchvideo's plain network."""
    monkeypatch.setattr(fusion, "fusion_available", lambda: False)
    exact = backbones.SlowFastExtractor.build(None, "cpu", precision=backbones.Precision.EXACT)
    assert not exact.fused and any(isinstance(m, nn.BatchNorm3d) for m in exact.model.modules())


def test_fusion_refuses_a_model_in_training_mode():
    with pytest.raises(ValueError, match="eval mode"):
        fusion.fuse_slowfast(backbones.build_slowfast_module().train())


@needs_fused_ops
def test_only_an_exact_cpu_extractor_is_fused_and_fuse_false_keeps_the_plain_network():
    state = backbones.build_slowfast_module(with_head=True).state_dict()
    exact = backbones.SlowFastExtractor.build(state, "cpu", precision=backbones.Precision.EXACT)
    plain = backbones.SlowFastExtractor.build(state, "cpu", precision=backbones.Precision.EXACT, fuse=False)
    assert exact.fused and not plain.fused
    assert any(isinstance(m, nn.BatchNorm3d) for m in plain.model.modules())
    assert not any(isinstance(m, nn.BatchNorm3d) for m in exact.model.modules())
    fast = backbones.SlowFastExtractor.build(state, "cpu", precision=backbones.Precision.FAST)
    assert not fast.fused  # bf16 keeps autocast (its fidelity is what was measured)
    if fast.compute_dtype == torch.bfloat16:
        with pytest.raises(ValueError, match="fp32 on a CPU"):
            backbones.SlowFastExtractor.build(state, "cpu", precision=backbones.Precision.FAST, fuse=True)


def test_probing_for_the_fused_ops_leaves_the_callers_random_generator_alone():
    """Building an extractor must not shift torch's global generator (random-init networks built after it, as in
    the demo mode and the tests, would get other weights)."""
    fusion.fusion_available.cache_clear()
    torch.manual_seed(11)
    fusion.fusion_available()
    after_probe = torch.rand(3)
    torch.manual_seed(11)
    torch.testing.assert_close(after_probe, torch.rand(3))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("shape", [(3, 5, 96, 64), (2, 8, 12, 8), (1, 3, 2, 2)])
def test_pair_max_pool_is_max_pool_bit_for_bit(dtype, shape):
    torch.manual_seed(0)
    x = torch.randn(shape).to(dtype).contiguous(memory_format=torch.channels_last)
    x[0, 0, 0, 1] = float("nan")  # a NaN propagates, as in max_pool2d
    x[0, 1, 1, 1] = x[0, 1, 0, 0]  # a tie
    ours = fusion.PairMaxPool2d()(x)
    expected = torch.nn.functional.max_pool2d(x, 2, 2)
    assert ours.shape == expected.shape and ours.dtype == dtype
    torch.testing.assert_close(ours, expected, rtol=0, atol=0, equal_nan=True)
    assert ours.is_contiguous(memory_format=torch.channels_last)


def test_pair_max_pool_hands_other_layouts_and_odd_sizes_to_max_pool2d():
    torch.manual_seed(1)
    for x in (torch.randn(2, 3, 7, 6).contiguous(memory_format=torch.channels_last), torch.randn(2, 3, 8, 6)):
        torch.testing.assert_close(fusion.PairMaxPool2d()(x), torch.nn.functional.max_pool2d(x, 2, 2), rtol=0, atol=0)


def test_vggish_runs_pair_max_pools_and_gives_the_plain_networks_features():
    """Every VGGish max-pool is replaced, and its embeddings equal the unmodified torchvggish network's exactly
    (fp32, the same NHWC layout)."""
    torch.manual_seed(2)
    plain = backbones.build_vggish_module().eval().to(memory_format=torch.channels_last)
    extractor = backbones.VGGishExtractor.build(plain.state_dict(), "cpu", precision=backbones.Precision.EXACT)
    assert sum(isinstance(m, fusion.PairMaxPool2d) for m in extractor.model.modules()) == 4
    assert not any(isinstance(m, nn.MaxPool2d) for m in extractor.model.modules())
    examples = torch.randn(5, 96, 64)
    with torch.inference_mode():
        expected = plain(examples.unsqueeze(1).contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(extractor.embed(examples), expected, rtol=0, atol=0)
