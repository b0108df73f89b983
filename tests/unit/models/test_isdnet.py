"""ISDNet: shapes on odd sizes, the calling protocol, training-only work, gradients, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.unit.models.test_backbones import official_stdc_state
from tests.unit.models.test_heads import batchnorm, conv_bn_relu, randomize_batchnorm
from tests.unit.models.test_losses import hand_cross_entropy, numpy_sd_loss
from tests.unit.models.test_wavelets import _scipy_residuals as scipy_residuals
from urur.models.backbones import PretrainedWeightsError, ResNet, STDCNet
from urur.models.baselines import STDCSeg
from urur.models.common import zero_branch
from urur.models.isdnet import ISDNet, RelationAwareFusion

NUM_CLASSES = 5
TRAINING_ONLY = ("deep_classifier", "aux_head", "fuse16_head", "fuse8_head", "sr_head")
LOSS_KEYS = {"loss_seg", "loss_deep", "loss_aux", "loss_fuse", "loss_sr", "loss_sd"}


def tiny_isdnet(seed: int = 0) -> ISDNet:
    torch.manual_seed(seed)
    return ISDNet(NUM_CLASSES, width=0.125)


def batch(size: tuple[int, int] = (64, 96), n: int = 2, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    image = torch.randn(n, 3, *size, generator=generator)
    target = torch.randint(0, NUM_CLASSES, (n, *size), generator=generator)
    return image, target


def record_calls(model: ISDNet) -> list[str]:
    called: list[str] = []
    for name in TRAINING_ONLY:
        getattr(model, name).register_forward_hook(lambda module, args, out, name=name: called.append(name))
    return called


@pytest.mark.parametrize("size", [(45, 70), (33, 33), (128, 96)])
def test_eval_logits_have_input_size(size: tuple[int, int]) -> None:
    model = tiny_isdnet().eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, *size))
    assert tuple(logits.shape) == (1, NUM_CLASSES, *size)
    assert torch.isfinite(logits).all()


def test_eval_skips_training_heads_and_ignores_target() -> None:
    model = tiny_isdnet().eval()
    called = record_calls(model)
    image, target = batch(n=1)
    with torch.no_grad():
        out = model(image, target)
    assert isinstance(out, torch.Tensor) and called == []


def test_training_without_target_returns_logits_only() -> None:
    model = tiny_isdnet().train()
    called = record_calls(model)
    image, _ = batch()
    out = model(image)
    assert isinstance(out, torch.Tensor) and tuple(out.shape) == (2, NUM_CLASSES, 64, 96)
    assert called == []


def test_training_with_target_returns_weighted_losses() -> None:
    model = tiny_isdnet().train()
    called = record_calls(model)
    image, target = batch(size=(50, 77))
    logits, losses = model(image, target)
    assert tuple(logits.shape) == (2, NUM_CLASSES, 50, 77)
    assert set(losses) == LOSS_KEYS
    assert all(v.ndim == 0 and torch.isfinite(v) and v >= 0 for v in losses.values())
    assert sorted(called) == sorted(TRAINING_ONLY)
    # The auxiliary weight scales its term linearly.
    torch.manual_seed(5)
    heavier = ISDNet(NUM_CLASSES, width=0.125, aux_weight=0.8).train()
    heavier.load_state_dict(model.state_dict())
    torch.manual_seed(7)
    _, base = model(image, target)
    torch.manual_seed(7)
    _, doubled = heavier(image, target)
    assert torch.allclose(doubled["loss_aux"], 2 * base["loss_aux"])


def test_gradients_reach_every_parameter() -> None:
    model = tiny_isdnet().train()
    image, target = batch()
    _, losses = model(image, target)
    sum(losses.values()).backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert no_grad == []
    # RAF's gates start at 0, so its relation MLPs receive exactly zero gradient at first ...
    silent = sorted({n for n, p in model.named_parameters() if p.grad.abs().sum() == 0})
    assert silent and all("_mlp." in n for n in silent)
    # ... and a non-zero gradient once the gates have opened.
    model.zero_grad()
    with torch.no_grad():
        for fusion in (model.fuse16, model.fuse8):
            fusion.shallow_gate.fill_(0.5)
            fusion.context_gate.fill_(0.5)
    _, losses = model(image, target)
    sum(losses.values()).backward()
    assert [n for n, p in model.named_parameters() if p.grad.abs().sum() == 0] == []


def test_deterministic_under_fixed_seed() -> None:
    image, target = batch()
    results = []
    for _ in range(2):
        model = tiny_isdnet(seed=11).train()
        torch.manual_seed(3)
        _, losses = model(image, target)
        results.append(torch.stack([losses[k] for k in sorted(LOSS_KEYS)]))
    assert torch.equal(results[0], results[1])


def test_deep_branch_sees_every_fourth_pixel_only() -> None:
    """Nearest x4 downsampling: the deep features ignore pixels off the (4i, 4j) grid."""
    model = tiny_isdnet().eval()
    captured: list[torch.Tensor] = []
    model.aspp.register_forward_hook(lambda module, args, out: captured.append(out))
    image = torch.randn(1, 3, 64, 64)
    off_grid, on_grid = image.clone(), image.clone()
    off_grid[..., 1, 2] += 5.0
    on_grid[..., 4, 8] += 5.0
    with torch.no_grad():
        for x in (image, off_grid, on_grid):
            model(x)
    assert torch.equal(captured[0], captured[1])
    assert not torch.equal(captured[0], captured[2])


def test_target_shape_is_checked() -> None:
    model = tiny_isdnet().train()
    image, target = batch()
    with pytest.raises(ValueError, match="target must be"):
        model(image, target[:, :10])


def test_relation_aware_fusion_shapes() -> None:
    fusion = RelationAwareFusion(shallow_channels=32, channels=24).eval()
    assert fusion.groups == 8  # gcd(16, 24)
    context, fused = fusion(torch.randn(1, 32, 12, 10), torch.randn(1, 24, 3, 3))
    assert tuple(context.shape) == tuple(fused.shape) == (1, 24, 12, 10)
    paper = RelationAwareFusion(shallow_channels=256, channels=128)
    assert paper.groups == 16 and paper.shallow_mlp[0].in_features == 256  # 16 x 16 affinity


def test_pretrained_deep_resnet_and_shallow_stdc(tmp_path) -> None:
    torch.manual_seed(5)
    resnet = ResNet(18, 3, stem="v1c", width=0.125).state_dict()
    stdc = official_stdc_state(STDCNet(width=0.125))
    torch.save(resnet, tmp_path / "resnet18_v1c.pth")
    torch.save({"state_dict": stdc}, tmp_path / "stdc813.tar")
    model = ISDNet(
        NUM_CLASSES,
        width=0.125,
        pretrained_backbone={"deep": tmp_path / "resnet18_v1c.pth", "shallow": tmp_path / "stdc813.tar"},
    )
    deep = model.backbone.state_dict()
    assert all(torch.equal(deep[key], value) for key, value in resnet.items())
    rgb = stdc["features.0.conv.weight"]
    assert torch.equal(model.shallow.state_dict()["stem.0.0.weight"], torch.cat([rgb, rgb], dim=1))
    assert torch.equal(
        model.shallow.state_dict()["stages.1.1.convs.3.0.weight"], stdc["features.5.conv_list.3.conv.weight"]
    )
    # A plain path still means the deep ResNet; a file of another width is a clear error.
    ISDNet(NUM_CLASSES, width=0.125, pretrained_backbone=tmp_path / "resnet18_v1c.pth")
    with pytest.raises(
        PretrainedWeightsError, match=r"resnet18_v1c\.pth do not fit ResNet.*shape_mismatch: stem\.0\.weight"
    ):
        ISDNet(NUM_CLASSES, width=0.25, pretrained_backbone=tmp_path / "resnet18_v1c.pth")
    with pytest.raises(ValueError, match=r"keys must be 'deep' .* and/or 'shallow' .*got 'stdc'"):
        ISDNet(NUM_CLASSES, width=0.125, pretrained_backbone={"stdc": tmp_path / "stdc813.tar"})


def test_losses_follow_their_definitions_by_value() -> None:
    """Each loss from the captured head outputs, recomputed by hand on a 50x77 input (padded to
    64x96, so every auxiliary map must be resized to 64x96 and cropped from the top left)."""
    model = tiny_isdnet().train()
    captured: dict[str, torch.Tensor] = {}
    for name in ("deep_classifier", "aux_head", "fuse16_head", "fuse8_head", "aspp"):
        getattr(model, name).register_forward_hook(
            lambda _m, _i, out, name=name: captured.update({name: out})
        )
    model.sr_head.register_forward_hook(
        lambda _m, _i, out: captured.update(sr_features=out[0], sr_image=out[1])
    )
    image, target = batch(size=(50, 77))
    logits, losses = model(image, target)
    padded = (64, 96)
    assert losses["loss_seg"].item() == pytest.approx(hand_cross_entropy(logits, target), rel=1e-5)
    expected = {
        "loss_deep": 1.0 * hand_cross_entropy(captured["deep_classifier"], target, padded),
        "loss_aux": 0.4 * hand_cross_entropy(captured["aux_head"], target, padded),
        "loss_fuse": hand_cross_entropy(captured["fuse16_head"], target, padded)
        + hand_cross_entropy(captured["fuse8_head"], target, padded),
    }
    for key, value in expected.items():
        assert losses[key].item() == pytest.approx(value, rel=1e-5), key
    # L_sr: 0.1 x MSE between the SR image (resized to the padded input) and the sum of the two
    # Laplacian levels of the zero-padded input, the pyramid computed with scipy.
    padded_image = F.pad(image, (0, 96 - 77, 0, 64 - 50)).double().numpy()
    sr_target = np.empty(padded_image.shape)
    for n, c in np.ndindex(*padded_image.shape[:2]):
        level0, level1 = scipy_residuals(padded_image[n, c], 2)
        upsampled = F.interpolate(torch.from_numpy(level1)[None, None], size=padded, mode="bilinear")
        sr_target[n, c] = level0 + upsampled[0, 0].numpy()
    sr_image = F.interpolate(captured["sr_image"].detach().double(), size=padded, mode="bilinear")
    expected_sr = 0.1 * np.mean((sr_image.numpy() - sr_target) ** 2)
    assert losses["loss_sr"].item() == pytest.approx(expected_sr, rel=1e-4)
    expected_sd = numpy_sd_loss(captured["aspp"].detach().numpy(), captured["sr_features"].detach().numpy())
    assert losses["loss_sd"].item() == pytest.approx(expected_sd, rel=1e-4)


def test_relation_aware_fusion_by_value() -> None:
    """RAF restated: channel descriptors (3x3 CBR, spatial mean, 1x1 conv, BN) of both sides; their
    groups x groups affinity (24 channels: 8 groups of 3); MLP corrections scaled by the gates;
    sigmoid reweighting; the context upsampled bilinearly and convolved (3x3 CBR), added to the
    shallow map, then a 3x3 conv + BN."""
    torch.manual_seed(8)
    fusion = randomize_batchnorm(RelationAwareFusion(shallow_channels=16, channels=24))
    with torch.no_grad():
        fusion.shallow_gate.fill_(0.7)
        fusion.context_gate.fill_(-0.4)
    shallow, context = torch.randn(2, 16, 10, 12), torch.randn(2, 24, 3, 4)

    def descriptor(x: torch.Tensor, attention: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        feature = conv_bn_relu(x, attention.conv, padding=1)
        pooled = F.conv2d(feature.mean(dim=(2, 3), keepdim=True), attention.descriptor[0].weight)
        return feature, batchnorm(pooled, attention.descriptor[1])[..., 0, 0]

    def mlp(a: torch.Tensor, layers: torch.nn.Module) -> torch.Tensor:
        hidden = torch.relu(a @ layers[0].weight.T + layers[0].bias)
        return torch.relu(hidden @ layers[2].weight.T + layers[2].bias)

    with torch.no_grad():
        s_feature, s_att = descriptor(shallow, fusion.shallow_attention)
        c_feature, c_att = descriptor(context, fusion.context_attention)
        affinity = torch.einsum("nik,njk->nij", s_att.view(2, 8, 3), c_att.view(2, 8, 3)).reshape(2, 64)
        s_weight = torch.sigmoid(s_att + 0.7 * mlp(affinity, fusion.shallow_mlp))
        c_weight = torch.sigmoid(c_att + -0.4 * mlp(affinity, fusion.context_mlp))
        reweighted = c_feature * c_weight[..., None, None]
        upsampled = F.interpolate(reweighted, size=(10, 12), mode="bilinear", align_corners=False)
        expected_context = conv_bn_relu(upsampled, fusion.context_head, padding=1)
        summed = s_feature * s_weight[..., None, None] + expected_context
        expected_fused = batchnorm(F.conv2d(summed, fusion.smooth[0].weight, None, 1, 1), fusion.smooth[1])
        got_context, got_fused = fusion(shallow, context)
    torch.testing.assert_close(got_context, expected_context, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_fused, expected_fused, atol=1e-5, rtol=1e-5)


def _fusion_inputs(model: ISDNet) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(shallow, context) as each relation-aware fusion receives them, recorded on every forward."""
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for name in ("fuse16", "fuse8"):
        getattr(model, name).register_forward_pre_hook(lambda _, args, name=name: seen.update({name: args}))
    return seen


@pytest.mark.parametrize(
    ("branch", "zero_inputs"),
    [("deep", {("fuse16", 1)}), ("shallow", {("fuse16", 0), ("fuse8", 0)})],
)
def test_a_zeroed_branch_enters_the_fusions_as_zeros(branch: str, zero_inputs: set) -> None:
    """The deep ASPP map enters the 1/16 fusion only, the shallow maps both: zeroing a branch makes
    exactly those fusion inputs zero, the other branch's keep the full model's values, and the 1/16
    fusion's result (the 1/8 fusion's context) and the logits move. At initialisation the deep
    context barely reaches the logits (about 1e-3 at most here, the shallow branch 4e-2)."""
    model = randomize_batchnorm(tiny_isdnet())
    seen = _fusion_inputs(model)
    image, _ = batch(n=1)
    with torch.no_grad():
        full = model(image)
        full_inputs = {(name, i): seen[name][i] for name in seen for i in (0, 1)}
        with zero_branch(model, branch):
            logits = model(image)
    for key, value in full_inputs.items():
        received = seen[key[0]][key[1]]
        if key in zero_inputs:
            assert value.abs().max() > 0.1 and torch.equal(received, torch.zeros_like(value))
        elif key == ("fuse8", 1):
            assert (received - value).abs().mean() > 1e-3
        else:
            assert torch.equal(received, value)
    assert (logits - full).abs().max() > 5e-4
    assert model.zeroed_branch is None


def test_zero_branch_is_for_two_branch_models_and_known_branches() -> None:
    with (
        pytest.raises(TypeError, match="STDCSeg has no deep and shallow branches"),
        zero_branch(STDCSeg(NUM_CLASSES, width=0.125), "deep"),
    ):
        pass
    model = tiny_isdnet()
    with (
        pytest.raises(ValueError, match="unknown branch 'colour'; valid branches are deep, shallow"),
        zero_branch(model, "colour"),
    ):
        pass
    with pytest.raises(RuntimeError, match="inside"), zero_branch(model, "deep"):
        assert model.zeroed_branch == "deep"
        raise RuntimeError("inside")
    assert model.zeroed_branch is None
