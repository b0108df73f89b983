"""WSDNet: shapes for odd sizes, training-only heads, gradients of every ablation, loss definitions."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.unit.models.test_backbones import official_stdc_state
from tests.unit.models.test_heads import conv_bn_relu, randomize_batchnorm
from tests.unit.models.test_losses import hand_cross_entropy, numpy_sd_loss, pywt_wsl
from urur.models.backbones import ResNet, STDCNet
from urur.models.common import zero_branch
from urur.models.heads import WaveletSuperResolutionHead
from urur.models.wavelets import InverseWaveletPacket2D, WaveletPacket2D
from urur.models.wsdnet import AUX_LOSSES, DOWNSAMPLE_MODES, AdaptiveDownsample, WSDNet

NUM_CLASSES = 5
WIDTH = 0.125


def _model(**options: object) -> WSDNet:
    torch.manual_seed(0)
    return WSDNet(NUM_CLASSES, width=WIDTH, **options)


def _batch(height: int = 64, width: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    image = torch.randn(2, 3, height, width, generator=generator)
    target = torch.randint(0, NUM_CLASSES, (2, height, width), generator=generator)
    return image, target


@pytest.mark.parametrize(("height", "width"), [(64, 96), (65, 97), (33, 40), (128, 31)])
def test_eval_logits_have_the_input_size(height: int, width: int) -> None:
    model = _model().eval()
    with torch.inference_mode():
        logits = model(torch.randn(1, 3, height, width))
    assert isinstance(logits, torch.Tensor)
    assert logits.shape == (1, NUM_CLASSES, height, width)


def _record_calls(model: WSDNet) -> list[str]:
    calls: list[str] = []
    for name in ("aux_head", "sr_head"):
        getattr(model, name).register_forward_hook(lambda *_, name=name: calls.append(name))
    return calls


def test_eval_runs_no_training_heads_even_with_a_target() -> None:
    model = _model().eval()
    calls = _record_calls(model)
    image, target = _batch()
    output = model(image, target)
    assert isinstance(output, torch.Tensor)
    assert calls == []


def test_training_without_target_returns_logits_only() -> None:
    model = _model().train()
    calls = _record_calls(model)
    image, _ = _batch(65, 97)
    output = model(image)
    assert isinstance(output, torch.Tensor) and output.shape == (2, NUM_CLASSES, 65, 97)
    assert calls == []


@pytest.mark.parametrize(
    ("aux_loss", "keys"),
    [
        ("wsl", {"loss_seg", "loss_aux", "loss_wsl"}),
        ("sr_sd", {"loss_seg", "loss_aux", "loss_sr", "loss_sd"}),
        ("none", {"loss_seg", "loss_aux"}),
    ],
)
def test_training_loss_keys(aux_loss: str, keys: set[str]) -> None:
    model = _model(aux_loss=aux_loss).train()
    image, target = _batch(65, 97)
    logits, losses = model(image, target)
    assert logits.shape == (2, NUM_CLASSES, 65, 97)
    assert set(losses) == keys
    assert all(value.ndim == 0 and torch.isfinite(value) for value in losses.values())
    assert (model.sr_head is None) == (aux_loss == "none")


@pytest.mark.parametrize("aux_loss", AUX_LOSSES)
def test_losses_follow_their_definitions(aux_loss: str) -> None:
    """By value on a 65x97 input (padded to 96x128): loss_seg = CE of the logits; loss_aux =
    0.1 x CE of the aux head resized to the padded input and cropped top-left; loss_wsl = WSL
    (PyWavelets) between the SR reconstruction and the zero-padded input; loss_sr = 0.1 x MSE of
    the same pair; loss_sd = L_sd (numpy) between the deep 1/8 features and the SR features."""
    model = _model(aux_loss=aux_loss).train()
    captured: dict[str, torch.Tensor] = {}
    model.aux_head.register_forward_hook(lambda _m, _i, out: captured.update(aux=out))
    model.deep.register_forward_hook(lambda _m, _i, out: captured.update(deep=out))
    if model.sr_head is not None:
        model.sr_head.register_forward_hook(lambda _m, _i, out: captured.update(features=out[0], rec=out[1]))
    image, target = _batch(65, 97)
    logits, losses = model(image, target)
    assert losses["loss_seg"].item() == pytest.approx(hand_cross_entropy(logits, target), rel=1e-5)
    expected_aux = 0.1 * hand_cross_entropy(captured["aux"], target, (96, 128))
    assert losses["loss_aux"].item() == pytest.approx(expected_aux, rel=1e-5)
    padded = F.pad(image, (0, 128 - 97, 0, 96 - 65)).double().numpy()
    if aux_loss == "none":
        assert set(losses) == {"loss_seg", "loss_aux"}
        return
    rec = captured["rec"].detach().double().numpy()
    assert rec.shape == padded.shape
    if aux_loss == "wsl":
        expected_wsl = pywt_wsl(rec, padded, 3, 1.0, 0.8)
        assert losses["loss_wsl"].item() == pytest.approx(expected_wsl, rel=1e-5)
    else:
        assert losses["loss_sr"].item() == pytest.approx(0.1 * np.mean((rec - padded) ** 2), rel=1e-5)
        deep, features = captured["deep"].detach().numpy(), captured["features"].detach().numpy()
        assert features.shape[-2:] == (24, 32) and deep.shape[-2:] == (12, 16)
        assert losses["loss_sd"].item() == pytest.approx(numpy_sd_loss(deep, features), rel=1e-4)


# The adaptive sampler's offset predictor ends in a zero-initialised conv (training starts from
# space-to-depth), so the layer before it gets exactly zero gradient on the first step.
_ZERO_GRAD_AT_INIT = "deep.downsample.offsets.0."


@pytest.mark.parametrize("aux_loss", AUX_LOSSES)
@pytest.mark.parametrize("downsample", DOWNSAMPLE_MODES)
def test_gradients_reach_every_parameter(downsample: str, aux_loss: str) -> None:
    model = _model(downsample=downsample, aux_loss=aux_loss).train()
    image, target = _batch(64, 64)
    _, losses = model(image, target)
    sum(losses.values()).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert missing == []
    zero = [
        name
        for name, p in model.named_parameters()
        if not name.startswith(_ZERO_GRAD_AT_INIT) and p.grad.abs().sum() == 0
    ]
    assert zero == []


def test_same_seed_gives_identical_outputs() -> None:
    image, target = _batch(65, 97)
    runs = []
    for _ in range(2):
        model = _model().train()
        torch.manual_seed(3)  # dropout
        logits, losses = model(image, target)
        runs.append((logits.detach(), {k: v.item() for k, v in losses.items()}))
    assert torch.equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_dwt_deep_branch_uses_the_packet_transform_and_its_inverse() -> None:
    model = _model()
    assert isinstance(model.deep.downsample, WaveletPacket2D) and model.deep.downsample.levels == 2
    assert isinstance(model.deep.upsample[-1], InverseWaveletPacket2D)
    # The SR head ends the same way: its last x4 is a 2-level inverse packet transform.
    assert isinstance(model.sr_head, WaveletSuperResolutionHead)
    assert model.sr_head.inverse.levels == 2


def test_adaptive_downsample_starts_as_space_to_depth() -> None:
    sampler = AdaptiveDownsample(3, factor=4, hidden=8).eval()
    image = torch.randn(2, 3, 32, 48)
    torch.testing.assert_close(sampler(image), F.pixel_unshuffle(image, 4), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("option", "match"),
    [
        ({"downsample": "nearest"}, "unknown downsample 'nearest'.*dwt, bilinear, cnn, adaptive"),
        ({"aux_loss": "l2"}, "unknown aux_loss 'l2'.*wsl, sr_sd, none"),
        ({"deep_upsample_kernel": 5}, "unknown deep_upsample_kernel 5.*1, 3"),
        ({"head_init": "xavier"}, "unknown head_init 'xavier'.*pytorch, mmseg"),
        ({"wsl_normalisation": "mean"}, "unknown wsl_normalisation 'mean'.*sum, level_mean"),
    ],
)
def test_bad_options_name_the_valid_values(option: dict[str, str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        WSDNet(NUM_CLASSES, width=WIDTH, **option)


def test_target_of_the_wrong_size_is_rejected() -> None:
    image, target = _batch(64, 64)
    with pytest.raises(ValueError, match="target must be"):
        _model().train()(image, target[:, :32])


def test_strip_wise_shallow_branch_matches_the_whole_image() -> None:
    """Eval on images taller than strip_rows uses strips; the result must not change."""
    model = _model().eval()
    image = torch.randn(1, 3, 320, 64)
    with torch.inference_mode():
        whole = model(image)
        model.shallow.strip_rows = 64
        strips = model(image)
    torch.testing.assert_close(strips, whole, atol=1e-5, rtol=0)


@pytest.mark.parametrize("training", [False, True])
def test_folded_dwt_and_cnn_block_equal_the_explicit_pair(training: bool) -> None:
    deep = _model().deep.train(training)
    image = torch.randn(2, 3, 64, 32)
    explicit = deep.cnn_block(deep.downsample(image))
    assert deep.downsample(image).shape == (2, 48, 16, 8)
    torch.testing.assert_close(deep.embed(image), explicit, atol=1e-5, rtol=1e-5)


def test_pretrained_weights_load_except_the_wavelet_facing_first_conv(tmp_path, caplog) -> None:
    torch.manual_seed(5)
    resnet = ResNet(18, 3, stem="v1c", width=WIDTH).state_dict()  # an RGB ImageNet-style file
    stdc = official_stdc_state(STDCNet(width=WIDTH))
    torch.save(resnet, tmp_path / "resnet18_v1c.pth")
    torch.save(stdc, tmp_path / "stdc813.pth")
    initial = _model().deep.backbone.state_dict()["stem.0.weight"]
    with caplog.at_level("INFO", logger="urur.models.pretrained"):
        model = _model(
            pretrained_backbone={"deep": tmp_path / "resnet18_v1c.pth", "shallow": tmp_path / "stdc813.pth"}
        )
    deep = model.deep.backbone.state_dict()
    assert torch.equal(deep["stem.0.weight"], initial)  # kept: it sees wavelet features, not RGB
    assert all(torch.equal(deep[key], value) for key, value in resnet.items() if key != "stem.0.weight")
    rgb = stdc["features.0.conv.weight"]
    assert torch.equal(model.shallow.stdc.state_dict()["stem.0.0.weight"], torch.cat([rgb, rgb], dim=1))
    assert "skipped stem.0.weight (sees the CNN block's wavelet-feature channels" in caplog.text
    assert "adapted stem.0.0.weight" in caplog.text
    assert re.search(
        r"ResNet .*: loaded \d+ of \d+ tensors from .*resnet18_v1c\.pth \(0 adapted, 1 skipped", caplog.text
    )


def test_adaptive_downsample_samples_at_the_predicted_offsets() -> None:
    """A constant offset of (+1, +2) pixels (x, y) for every sample point: each output cell then
    holds the pixels one column right and two rows down of its block, zero beyond the image."""
    sampler = AdaptiveDownsample(3, factor=4, hidden=8).eval()
    with torch.no_grad():
        sampler.offsets[-1].bias.view(16, 2).copy_(torch.tensor([1.0, 2.0]))  # (x, y) per point
    image = torch.randn(2, 3, 16, 24)
    shifted = torch.zeros_like(image)
    shifted[..., :-2, :-1] = image[..., 2:, 1:]
    with torch.no_grad():
        torch.testing.assert_close(sampler(image), F.pixel_unshuffle(shifted, 4), atol=1e-5, rtol=0)


def test_eval_logits_are_the_head_of_the_summed_branches() -> None:
    """Fusion by addition (no RAF): head(deep + shallow) at 1/8 of the zero-padded 64x64 input,
    the head being a 3x3 CBR and a 1x1 conv, resized bilinearly and cropped to 40x50."""
    model = randomize_batchnorm(_model())
    image = torch.randn(1, 3, 40, 50)
    padded = F.pad(image, (0, 14, 0, 24))
    with torch.no_grad():
        fused = model.deep(padded) + model.shallow(padded)
        head = model.head
        logits = F.conv2d(conv_bn_relu(fused, head[-2], padding=1), head[-1].weight, head[-1].bias)
        expected = F.interpolate(logits, size=(64, 64), mode="bilinear", align_corners=False)[..., :40, :50]
        torch.testing.assert_close(model(image), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("zeroed", "kept"), [("deep", "shallow"), ("shallow", "deep")])
def test_a_zeroed_branch_leaves_the_head_the_other_branch_alone(zeroed: str, kept: str) -> None:
    """The branch diagnostic zeroes one 1/8 feature where the two are added: the logits are then
    the head of the other branch's feature alone (0.02-0.06 from the full model's logits on
    average here), and the model runs as trained again after the block."""
    model = randomize_batchnorm(_model())
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        full = model(image)
        alone = F.interpolate(model.head(getattr(model, kept)(image)), size=(64, 64), mode="bilinear")
        with zero_branch(model, zeroed):
            logits = model(image)
        torch.testing.assert_close(logits, alone, atol=1e-5, rtol=1e-5)
        assert (logits - full).abs().mean() > 0.01
        torch.testing.assert_close(model(image), full, atol=0, rtol=0)
    assert model.zeroed_branch is None


def test_zeroing_a_branch_whose_feature_is_zero_changes_nothing() -> None:
    """With the deep branch's last 1x1 conv at zero its 1/8 feature is exactly zero (the inverse
    wavelet transform of zeros): zeroing it at the fusion must leave the logits bit for bit."""
    model = randomize_batchnorm(_model())
    with torch.no_grad():
        model.deep.upsample[0].weight.zero_()
        model.deep.upsample[0].bias.zero_()
        image = torch.randn(1, 3, 64, 64)
        full = model(image)
        with zero_branch(model, "deep"):
            assert torch.equal(model(image), full)
        with zero_branch(model, "shallow"):
            assert not torch.allclose(model(image), full, atol=1e-3)


@pytest.mark.parametrize(("kernel", "reach"), [(1, 4), (3, 12)])
def test_a_deep_cell_reaches_one_block_with_the_papers_1x1_and_its_neighbours_with_3x3(
    kernel: int, reach: int
) -> None:
    """The 1/32 -> 1/8 upsampler: one changed 1/32 cell moves a 4x4 block (1x1 conv, the 32-px
    lattice's source) or the 12x12 around it (3x3 conv: neighbouring blocks agree)."""
    up = _model(deep_upsample_kernel=kernel).deep.upsample.eval()
    decoded = torch.randn(1, up[0].in_channels, 6, 6, generator=torch.Generator().manual_seed(2))
    nudged = decoded.clone()
    nudged[..., 3, 2] += 1.0
    with torch.inference_mode():
        changed = (up(nudged) - up(decoded)).abs().amax(dim=1)[0] > 1e-6
    rows, cols = changed.nonzero(as_tuple=True)
    assert (int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1) == (reach, reach)
    assert (int(rows.min()), int(cols.min())) == (12 - (reach - 4) // 2, 8 - (reach - 4) // 2)


def test_mmseg_head_init_kaiming_convs_and_small_classifiers() -> None:
    model = _model(head_init="mmseg")
    for classifier in (model.head[-1], model.aux_head[-1]):
        assert classifier.weight.std().item() == pytest.approx(0.01, rel=0.25)
        assert torch.count_nonzero(classifier.bias) == 0
    conv = model.deep.decoder.fuse[0][0]  # 3x3 conv: kaiming normal, fan_out, gain sqrt(2)
    fan_out = conv.out_channels * 9
    assert conv.weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.1)
    assert torch.all(model.head[-2][1].weight == 1)
    default = _model()  # PyTorch's default kaiming-uniform(a=sqrt(5)): std = 1 / sqrt(3 fan_in)
    assert default.head[-1].weight.std().item() > 3 * 0.01
    backbone = {k: v for k, v in model.state_dict().items() if k.startswith(("deep.backbone", "shallow"))}
    for key, value in backbone.items():  # only the heads are re-initialised
        torch.testing.assert_close(value, default.state_dict()[key])


def test_aspp_dilations_are_an_option() -> None:
    branches = _model(aspp_dilations=[1, 2, 3]).deep.decoder.aspp.branches
    assert [b[0].dilation for b in branches] == [(1, 1), (2, 2), (3, 3)]
    assert [b[0].dilation for b in _model().deep.decoder.aspp.branches][1:] == [(12, 12), (24, 24), (36, 36)]


def test_level_mean_wsl_is_the_models_loss_when_asked() -> None:
    image, target = _batch(64, 64)
    losses = {}
    for normalisation in ("sum", "level_mean"):
        model = _model(wsl_normalisation=normalisation).train()
        torch.manual_seed(3)  # the same dropout draws for both
        losses[normalisation] = model(image, target)[1]["loss_wsl"].item()
    # the same reconstruction (same weights and draws), level 1's highs / 3, 2's / 12, 3's / 48 ...
    assert losses["level_mean"] < losses["sum"] / 3
