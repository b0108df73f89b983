"""DeepLabV3+ and STDC baselines: shapes, calling protocol, gradients, determinism, pretrained backbone."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.unit.models.test_backbones import official_stdc_state
from tests.unit.models.test_heads import batchnorm, conv_bn_relu, randomize_batchnorm
from tests.unit.models.test_losses import hand_cross_entropy
from urur.classes import IGNORE_INDEX
from urur.models.backbones import PretrainedWeightsError, STDCNet, resnet18
from urur.models.baselines import DeepLabV3Plus, STDCSeg

NUM_CLASSES = 4
MODELS = [DeepLabV3Plus, STDCSeg]


def batch(size: tuple[int, int] = (64, 64), n: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return (
        torch.randn(n, 3, *size, generator=generator),
        torch.randint(0, NUM_CLASSES, (n, *size), generator=generator),
    )


@pytest.mark.parametrize("model_cls", MODELS)
@pytest.mark.parametrize("size", [(37, 53), (64, 96)])
def test_eval_logits_have_input_size(model_cls: type, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = model_cls(NUM_CLASSES, width=0.125).eval()
    with torch.no_grad():
        assert tuple(model(torch.randn(1, 3, *size)).shape) == (1, NUM_CLASSES, *size)


@pytest.mark.parametrize("model_cls", MODELS)
def test_training_losses_and_gradients(model_cls: type) -> None:
    torch.manual_seed(0)
    model = model_cls(NUM_CLASSES, width=0.125).train()
    image, target = batch(size=(45, 70))
    assert isinstance(model(image), torch.Tensor)  # no target: logits only
    logits, losses = model(image, target)
    assert tuple(logits.shape) == (2, NUM_CLASSES, 45, 70)
    assert set(losses) == {"loss_seg", "loss_aux"}
    assert all(v.ndim == 0 and torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0] == []


@pytest.mark.parametrize("model_cls", MODELS)
def test_eval_skips_auxiliary_heads(model_cls: type) -> None:
    model = model_cls(NUM_CLASSES, width=0.125).eval()
    heads = [m for name, m in model.named_children() if name.startswith("aux")]
    called: list[torch.nn.Module] = []
    for head in heads:
        head.register_forward_hook(lambda module, args, out: called.append(module))
    image, target = batch(n=1)
    with torch.no_grad():
        model(image, target)
    assert heads and called == []


@pytest.mark.parametrize("model_cls", MODELS)
def test_deterministic_under_fixed_seed(model_cls: type) -> None:
    image, target = batch()
    results = []
    for _ in range(2):
        torch.manual_seed(4)
        model = model_cls(NUM_CLASSES, width=0.125).train()
        _, losses = model(image, target)
        results.append(torch.stack([losses["loss_seg"], losses["loss_aux"]]))
    assert torch.equal(results[0], results[1])


@pytest.mark.parametrize(("output_stride", "decoder_input"), [(8, 8), (16, 4), (32, 2)])
def test_deeplabv3plus_output_stride(output_stride: int, decoder_input: int) -> None:
    model = DeepLabV3Plus(NUM_CLASSES, width=0.125, output_stride=output_stride).eval()
    assert model.backbone.output_stride == output_stride
    with torch.no_grad():
        assert model.backbone(torch.randn(1, 3, 64, 64))[-1].shape[-1] == decoder_input
    with pytest.raises(ValueError, match="output_stride must be one of"):
        DeepLabV3Plus(NUM_CLASSES, output_stride=4)


def test_deeplabv3plus_loads_torchvision_layout_backbone(tmp_path) -> None:
    torch.manual_seed(9)
    source = resnet18(width=0.125, num_classes=10)  # the fc entries must be ignored
    path = tmp_path / "backbone.pth"
    torch.save(source.state_dict(), path)
    model = DeepLabV3Plus(NUM_CLASSES, width=0.125, pretrained_backbone=path)
    assert torch.equal(
        model.backbone.state_dict()["layer3.0.conv1.weight"], source.state_dict()["layer3.0.conv1.weight"]
    )
    with pytest.raises(PretrainedWeightsError, match="stem"):
        DeepLabV3Plus(NUM_CLASSES, width=0.125, backbone_stem="v1c", pretrained_backbone=path)


def test_stdc_loads_an_official_stdc_checkpoint(tmp_path) -> None:
    source = official_stdc_state(STDCNet(width=0.125))
    torch.save({"state_dict": source}, tmp_path / "stdc813.tar")
    model = STDCSeg(NUM_CLASSES, width=0.125, pretrained_backbone=tmp_path / "stdc813.tar")
    assert torch.equal(
        model.backbone.state_dict()["stages.2.0.convs.1.0.weight"],
        source["features.6.conv_list.1.conv.weight"],
    )
    with pytest.raises(PretrainedWeightsError, match=r"stdc813\.tar do not fit STDCNet"):
        STDCSeg(NUM_CLASSES, width=0.25, pretrained_backbone=tmp_path / "stdc813.tar")


@pytest.mark.parametrize(
    ("model_cls", "aux_heads", "aux_weight"),
    [(DeepLabV3Plus, ("aux_head",), 0.4), (STDCSeg, ("aux16_head", "aux8_head"), 1.0)],
)
def test_losses_by_value(model_cls: type, aux_heads: tuple[str, ...], aux_weight: float) -> None:
    """loss_seg = CE of the logits; loss_aux = weight x sum of the CE of each auxiliary head's map,
    resized to the padded 64x96 input and cropped top-left to 45x70 (hand cross entropy)."""
    torch.manual_seed(0)
    model = model_cls(NUM_CLASSES, width=0.125).train()
    captured: dict[str, torch.Tensor] = {}
    for name in aux_heads:
        getattr(model, name).register_forward_hook(
            lambda _m, _i, out, name=name: captured.update({name: out})
        )
    image, target = batch(size=(45, 70))
    target[0, :5] = IGNORE_INDEX
    logits, losses = model(image, target)
    assert losses["loss_seg"].item() == pytest.approx(hand_cross_entropy(logits, target), rel=1e-5)
    expected = aux_weight * sum(hand_cross_entropy(captured[name], target, (64, 96)) for name in aux_heads)
    assert losses["loss_aux"].item() == pytest.approx(expected, rel=1e-5)


def _sigmoid_gate(feature: torch.Tensor, conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d) -> torch.Tensor:
    """sigmoid(BN(1x1 conv(spatial mean))): the ARM's channel gate."""
    return torch.sigmoid(batchnorm(F.conv2d(feature.mean(dim=(2, 3), keepdim=True), conv.weight), bn))


def test_stdc_decoder_by_value() -> None:
    """STDC's context path restated: global context (1x1 CBR of the 1/32 mean) added to the refined
    1/32 map (ARM: 3x3 CBR x sigmoid gate), resized to 1/16, 3x3 CBR; plus the refined 1/16 map,
    resized to 1/8, 3x3 CBR; FFM (1x1 CBR of [spatial 1/8, context], plus itself times an SE gate);
    3x3 CBR + 1x1 conv head; bilinear to the padded 64x64 input, cropped to 40x50."""
    torch.manual_seed(3)
    model = randomize_batchnorm(STDCSeg(NUM_CLASSES, width=0.125))
    image = torch.randn(1, 3, 40, 50)

    def refine(x: torch.Tensor, arm: torch.nn.Module) -> torch.Tensor:
        feature = conv_bn_relu(x, arm.conv, padding=1)
        return feature * _sigmoid_gate(feature, arm.attention[0], arm.attention[1])

    def up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)

    with torch.no_grad():
        feat8, feat16, feat32 = model.backbone(F.pad(image, (0, 14, 0, 24)))
        global_context = conv_bn_relu(feat32.mean(dim=(2, 3), keepdim=True), model.global_context)
        context16 = conv_bn_relu(up(refine(feat32, model.refine32) + global_context, feat16), model.head32, 1)
        context8 = conv_bn_relu(up(refine(feat16, model.refine16) + context16, feat8), model.head16, 1)
        ffm = model.fusion
        fused = conv_bn_relu(torch.cat([feat8, context8], dim=1), ffm.conv)
        se = ffm.attention
        hidden = torch.relu(F.conv2d(fused.mean(dim=(2, 3), keepdim=True), se[0].weight, se[0].bias))
        fused = fused + fused * torch.sigmoid(F.conv2d(hidden, se[2].weight, se[2].bias))
        head = model.head
        logits = F.conv2d(conv_bn_relu(fused, head[0], padding=1), head[1].weight, head[1].bias)
        expected = F.interpolate(logits, size=(64, 64), mode="bilinear", align_corners=False)[..., :40, :50]
        torch.testing.assert_close(model(image), expected, atol=1e-4, rtol=1e-4)
