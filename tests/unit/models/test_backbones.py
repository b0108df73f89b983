"""ResNet (torchvision layout, pretrained loading, output stride), STDC blocks, and common helpers."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from tests.unit.models.test_heads import batchnorm, conv_bn_relu, randomize_batchnorm
from urur.models import build_model
from urur.models.backbones import (
    CatBottleneck,
    PretrainedWeightsError,
    ResNet,
    STDCNet,
    STDCShallow,
    resnet18,
)
from urur.models.common import ConvBNReLU, pad_to_multiple, resize, scaled

TORCHVISION_RESNET18_PARAMETERS = 11_689_512  # torchvision.models.resnet18() parameter count


def torchvision_resnet18_shapes() -> dict[str, tuple[int, ...]]:
    """torchvision resnet18's state_dict keys and shapes, written out from its architecture."""
    shapes: dict[str, tuple[int, ...]] = {"conv1.weight": (64, 3, 7, 7)}

    def bn(prefix: str, channels: int) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{name}"] = (channels,)
        shapes[f"{prefix}.num_batches_tracked"] = ()

    bn("bn1", 64)
    in_ch = 64
    for layer, out_ch in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            prefix = f"layer{layer}.{block}"
            block_in = in_ch if block == 0 else out_ch
            shapes[f"{prefix}.conv1.weight"] = (out_ch, block_in, 3, 3)
            bn(f"{prefix}.bn1", out_ch)
            shapes[f"{prefix}.conv2.weight"] = (out_ch, out_ch, 3, 3)
            bn(f"{prefix}.bn2", out_ch)
            if block == 0 and layer > 1:
                shapes[f"{prefix}.downsample.0.weight"] = (out_ch, in_ch, 1, 1)
                bn(f"{prefix}.downsample.1", out_ch)
        in_ch = out_ch
    shapes["fc.weight"] = (1000, 512)
    shapes["fc.bias"] = (1000,)
    return shapes


def random_state_dict(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        key: torch.tensor(7)
        if key.endswith("num_batches_tracked")
        else torch.randn(shape, generator=generator)
        for key, shape in shapes.items()
    }


def test_resnet18_parameter_count_matches_torchvision() -> None:
    model = resnet18(num_classes=1000)
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_RESNET18_PARAMETERS


def test_resnet18_state_dict_layout_matches_torchvision() -> None:
    state = resnet18(num_classes=1000).state_dict()
    expected = torchvision_resnet18_shapes()
    assert list(state) == list(expected)
    assert {k: tuple(v.shape) for k, v in state.items()} == expected


def test_load_pretrained_from_file_ignores_fc_and_lands_values(tmp_path) -> None:
    weights = random_state_dict(torchvision_resnet18_shapes())
    path = tmp_path / "resnet18.pth"
    torch.save(weights, path)
    model = resnet18()  # no classifier: fc.* in the file must be skipped
    report = model.load_pretrained(path)
    assert report["loaded"] == list(model.state_dict())
    assert report["ignored"] == ["fc.weight", "fc.bias"]
    assert report["missing"] == report["unexpected"] == report["shape_mismatch"] == []
    state = model.state_dict()
    for key in ("conv1.weight", "layer2.0.downsample.0.weight", "layer4.1.bn2.running_var"):
        assert torch.equal(state[key], weights[key])
    assert "fc.weight" not in state


def test_load_pretrained_wrong_shape_names_key_and_file(tmp_path) -> None:
    weights = random_state_dict(torchvision_resnet18_shapes())
    weights["layer3.1.conv2.weight"] = torch.zeros(256, 256, 1, 1)
    path = tmp_path / "bad.pth"
    torch.save(weights, path)
    with pytest.raises(PretrainedWeightsError, match=r"bad\.pth.*shape_mismatch: layer3\.1\.conv2\.weight"):
        resnet18().load_pretrained(path)


def test_load_pretrained_reports_missing_and_unexpected_keys() -> None:
    weights = random_state_dict(torchvision_resnet18_shapes())
    del weights["layer1.0.conv1.weight"]
    weights["layer5.0.conv1.weight"] = torch.zeros(1)
    model = resnet18()
    with pytest.raises(
        PretrainedWeightsError, match=r"missing: layer1\.0\.conv1\.weight.*unexpected: layer5"
    ):
        model.load_pretrained(weights)
    report = model.load_pretrained(weights, strict=False)
    assert report["missing"] == ["layer1.0.conv1.weight"]
    assert torch.equal(model.state_dict()["conv1.weight"], weights["conv1.weight"])


def test_load_pretrained_rejects_unreadable_file(tmp_path) -> None:
    path = tmp_path / "not_weights.pth"
    path.write_text("hello")
    with pytest.raises(PretrainedWeightsError, match=r"not_weights\.pth"):
        resnet18().load_pretrained(path)


def halvings(size: int, times: int) -> int:
    """Size after ``times`` stride-2 ops with 'same'-style padding: ceil division by 2 each time."""
    for _ in range(times):
        size = math.ceil(size / 2)
    return size


@pytest.mark.parametrize(
    ("contract", "expected"),
    [
        (True, {"layer1": (1, 1), "layer2": (1, 1), "layer3": (1, 2), "layer4": (2, 4)}),
        (False, {"layer1": (1, 1), "layer2": (1, 1), "layer3": (2, 2), "layer4": (4, 4)}),
    ],
)
def test_contract_dilation_halves_the_first_block_of_dilated_stages(
    contract: bool, expected: dict[str, tuple[int, int]]
) -> None:
    net = resnet18(
        width=0.125, stem="v1c", strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), contract_dilation=contract
    )
    for name, dilations in expected.items():
        blocks = list(getattr(net, name))
        assert [b.conv1.dilation for b in blocks] == [(d, d) for d in dilations], name
        assert [b.conv1.padding for b in blocks] == [(d, d) for d in dilations], name
        assert all(b.conv2.dilation == (1, 1) for b in blocks), name


@pytest.mark.parametrize("name", ["isdnet", "wsdnet"])
def test_v1c_deep_branches_contract_their_dilations(name: str) -> None:
    model = build_model(name, 2, width=0.125)
    backbone = model.backbone if name == "isdnet" else model.deep.backbone
    layer3, layer4 = backbone.layer3, backbone.layer4
    assert [b.conv1.dilation[0] for b in (*layer3, *layer4)] == [1, 2, 2, 4]


@pytest.mark.parametrize("size", [(64, 96), (45, 70), (33, 17)])
def test_resnet_stage_shapes_and_output_stride(size: tuple[int, int]) -> None:
    plain = resnet18(width=0.125)
    dilated = resnet18(width=0.125, stem="v1c", strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4))
    image = torch.randn(1, 3, *size)
    plain_shapes = [tuple(f.shape) for f in plain(image)]
    dilated_shapes = [tuple(f.shape) for f in dilated(image)]
    channels = (8, 16, 32, 64)
    assert plain.out_channels == dilated.out_channels == channels
    assert plain_shapes == [
        (1, c, *(halvings(s, n) for s in size)) for c, n in zip(channels, (2, 3, 4, 5), strict=True)
    ]
    assert dilated_shapes == [
        (1, c, *(halvings(s, n) for s in size)) for c, n in zip(channels, (2, 3, 3, 3), strict=True)
    ]
    assert (plain.output_stride, dilated.output_stride) == (32, 8)


def test_v1c_stem_uses_mmseg_names() -> None:
    state = ResNet(stem="v1c").state_dict()
    assert tuple(state["stem.0.weight"].shape) == (32, 3, 3, 3)
    assert tuple(state["stem.3.weight"].shape) == (32, 32, 3, 3)
    assert tuple(state["stem.6.weight"].shape) == (64, 32, 3, 3)
    assert "stem.7.running_mean" in state and "conv1.weight" not in state


def test_resnet_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="stem must be"):
        ResNet(stem="v1d")
    with pytest.raises(ValueError, match="depth must be one of"):
        ResNet(depth=50)


def test_resnet_is_deterministic_under_seed() -> None:
    image = torch.randn(1, 3, 40, 40)
    outputs = []
    for _ in range(2):
        torch.manual_seed(3)
        outputs.append(resnet18(width=0.125).eval()(image)[-1])
    assert torch.equal(*outputs)


@pytest.mark.parametrize("stride", [1, 2])
def test_cat_bottleneck_channels_and_size(stride: int) -> None:
    block = CatBottleneck(16, 64, block_num=4, stride=stride)
    widths = [conv[0].out_channels for conv in block.convs]
    assert widths == [32, 16, 8, 8]
    out = block(torch.randn(2, 16, 9, 14))
    assert tuple(out.shape) == (2, 64, halvings(9, stride - 1), halvings(14, stride - 1))


def test_cat_bottleneck_rejects_indivisible_width() -> None:
    with pytest.raises(ValueError, match="divisible"):
        CatBottleneck(16, 20, block_num=4)


def test_stdc_shallow_paper_channels_and_shapes() -> None:
    net = STDCShallow()
    assert net.out_channels == (256, 512)
    feat8, feat16 = net(torch.randn(1, 6, 64, 96))
    assert tuple(feat8.shape) == (1, 256, 8, 12)
    assert tuple(feat16.shape) == (1, 512, 4, 6)


@pytest.mark.parametrize("size", [(64, 64), (50, 77)])
def test_stdc_tiny_widths_and_odd_sizes(size: tuple[int, int]) -> None:
    shallow = STDCShallow(width=0.125)
    full = STDCNet(width=0.125)
    assert shallow.out_channels == (32, 64)
    assert full.out_channels == (32, 64, 128)
    feats = full(torch.randn(1, 3, *size))
    assert [tuple(f.shape) for f in feats] == [
        (1, c, halvings(size[0], n), halvings(size[1], n))
        for c, n in zip((32, 64, 128), (3, 4, 5), strict=True)
    ]
    assert [tuple(f.shape) for f in shallow(torch.randn(1, 6, *size))] == [tuple(f.shape) for f in feats[:2]]


def test_scaled_channels() -> None:
    assert [scaled(64, 0.125), scaled(32, 0.125), scaled(70, 1.0), scaled(3, 0.1)] == [8, 4, 72, 1]
    with pytest.raises(ValueError, match="width must be positive"):
        scaled(64, 0)


def test_pad_to_multiple_pads_bottom_right_with_zeros() -> None:
    x = torch.randn(1, 2, 5, 7)
    padded, size = pad_to_multiple(x, 4)
    assert size == (5, 7) and tuple(padded.shape) == (1, 2, 8, 8)
    assert torch.equal(padded[..., :5, :7], x)
    assert padded[..., 5:, :].abs().sum() == 0 and padded[..., 7:].abs().sum() == 0
    same, _ = pad_to_multiple(padded, 4)
    assert same is padded


def test_resize_and_conv_bn_relu_keep_sizes() -> None:
    x = torch.randn(1, 3, 6, 10)
    assert resize(x, (6, 10)) is x
    assert tuple(resize(x, (12, 20)).shape) == (1, 3, 12, 20)
    assert tuple(ConvBNReLU(3, 5, 3, dilation=4)(x).shape) == (1, 5, 6, 10)


def test_conv_bn_relu_eval_folding_matches_separate_batchnorm() -> None:
    torch.manual_seed(0)
    block = ConvBNReLU(3, 6, 3, stride=2, dilation=2)
    conv, bn, _ = block
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    block.eval()
    x = torch.randn(2, 3, 15, 11)
    with torch.no_grad():
        expected = torch.relu(bn(conv(x)))
        assert torch.allclose(block(x), expected, atol=1e-5)


def official_stdc_state(net: STDCNet, seed: int = 0) -> dict[str, torch.Tensor]:
    """``net``'s parameters renamed to the official STDC checkpoint layout, written out by hand.

    Official names: ``features.<i>`` (0, 1: stem ConvX; then two CatBottlenecks per stage), ConvX
    ``conv``/``bn``, CatBottleneck ``conv_list``/``avd_layer``; plus the ``x2`` alias and the
    ImageNet classifier tail (``conv_last``, ``fc``, ``bn``, ``linear``) a backbone must ignore.
    """
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in net.state_dict().items():
        stem = re.fullmatch(r"stem\.(\d)\.([01])\.(.+)", key)
        if stem:
            name = f"features.{stem[1]}.{'conv' if stem[2] == '0' else 'bn'}.{stem[3]}"
        else:
            stage, block, rest = re.fullmatch(r"stages\.(\d)\.(\d)\.(.+)", key).groups()
            index = 2 + 2 * int(stage) + int(block)
            conv = re.fullmatch(r"convs\.(\d)\.([01])\.(.+)", rest)
            if conv:
                rest = f"conv_list.{conv[1]}.{'conv' if conv[2] == '0' else 'bn'}.{conv[3]}"
            else:
                rest = rest.replace("downsample.", "avd_layer.")
            name = f"features.{index}.{rest}"
        state[name] = (
            value.clone() if value.dtype == torch.long else torch.randn(value.shape, generator=generator)
        )
    state["x2.0.conv.weight"] = state["features.0.conv.weight"]
    for tail in ("conv_last.conv.weight", "fc.weight", "bn.weight", "linear.weight"):
        state[tail] = torch.zeros(3)
    return state


def test_stdc_loads_official_names_and_ignores_the_classifier_tail(tmp_path) -> None:
    source = official_stdc_state(STDCNet(width=0.125))
    path = tmp_path / "stdc813.tar"
    torch.save({"state_dict": source}, path)
    net = STDCNet(width=0.125)
    report = net.load_pretrained(path)
    state = net.state_dict()
    assert torch.equal(state["stem.0.0.weight"], source["features.0.conv.weight"])
    assert torch.equal(state["stem.1.1.running_var"], source["features.1.bn.running_var"])
    assert torch.equal(state["stages.0.0.convs.2.0.weight"], source["features.2.conv_list.2.conv.weight"])
    assert torch.equal(state["stages.0.0.downsample.0.weight"], source["features.2.avd_layer.0.weight"])
    assert torch.equal(state["stages.2.1.convs.0.1.bias"], source["features.7.conv_list.0.bn.bias"])
    assert len(report["loaded"]) == len(state)
    assert sorted(report["ignored"]) == ["bn.weight", "conv_last.conv.weight", "fc.weight", "linear.weight"]


def test_stdc_shallow_duplicates_the_rgb_first_conv_for_six_channels(tmp_path, caplog) -> None:
    source = official_stdc_state(STDCNet(width=0.125))
    path = tmp_path / "stdc813.pth"
    torch.save(source, path)
    shallow = STDCShallow(in_channels=6, width=0.125)
    with caplog.at_level("INFO", logger="urur.models.pretrained"):
        report = shallow.load_pretrained(path)
    rgb = source["features.0.conv.weight"]
    torch.testing.assert_close(
        shallow.state_dict()["stem.0.0.weight"], torch.cat([rgb, rgb], dim=1), rtol=0, atol=0
    )
    assert report["adapted"] == ["stem.0.0.weight (file weights repeated along the input channels to 6)"]
    assert any(key.startswith("stages.2.") for key in report["ignored"])  # the 1/32 stage it does not have
    assert "adapted stem.0.0.weight" in caplog.text


def test_pretrained_shapes_that_do_not_fit_name_file_and_keys(tmp_path) -> None:
    path = tmp_path / "wide_stdc.pth"
    torch.save(official_stdc_state(STDCNet(width=0.25)), path)
    with pytest.raises(
        PretrainedWeightsError, match=r"wide_stdc\.pth do not fit STDCNet.*shape_mismatch: stem\.0\.0\.weight"
    ):
        STDCNet(width=0.125).load_pretrained(path)
    missing = tmp_path / "absent.pth"
    with pytest.raises(PretrainedWeightsError, match=r"absent\.pth does not exist"):
        STDCNet(width=0.125).load_pretrained(missing)


def basic_block_reference(
    x: torch.Tensor, block: torch.nn.Module, stride: int, dilation: int
) -> torch.Tensor:
    """relu(BN(3x3 conv, dilation d, padding d, stride s) -> ReLU -> BN(3x3 conv)) + shortcut), the
    shortcut being BN(1x1 conv, stride s) when the block changes size or width, else x."""
    out = conv_bn_relu(x, (block.conv1, block.bn1), padding=dilation, dilation=dilation, stride=stride)
    out = batchnorm(F.conv2d(out, block.conv2.weight, None, 1, 1), block.bn2)
    identity = x
    if block.downsample is not None:
        identity = batchnorm(F.conv2d(x, block.downsample[0].weight, None, stride), block.downsample[1])
    return torch.relu(out + identity)


def test_resnet_by_value() -> None:
    """The torchvision stem (7x7/2 conv, BN, ReLU, 3x3/2 max pool) and the blocks of each stage, with
    ISDNet's strides (1, 2, 1, 1) and contracted dilations (1, 1, 2, 4): layer3 = 1 then 2,
    layer4 = 2 then 4."""
    torch.manual_seed(6)
    net = randomize_batchnorm(
        resnet18(width=0.125, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), contract_dilation=True)
    )
    x = torch.randn(1, 3, 45, 38)
    layout = {
        "layer1": [(1, 1), (1, 1)],
        "layer2": [(2, 1), (1, 1)],
        "layer3": [(1, 1), (1, 2)],
        "layer4": [(1, 2), (1, 4)],
    }
    with torch.no_grad():
        h = conv_bn_relu(x, (net.conv1, net.bn1), padding=3, stride=2)
        h = F.max_pool2d(h, 3, 2, 1)
        expected = []
        for name, blocks in layout.items():
            for block, (stride, dilation) in zip(getattr(net, name), blocks, strict=True):
                h = basic_block_reference(h, block, stride, dilation)
            expected.append(h)
        for got, want in zip(net(x), expected, strict=True):
            torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("stride", [1, 2])
def test_cat_bottleneck_by_value(stride: int) -> None:
    """STDC's module: a 1x1 CBR, then 3x3 CBRs in series (after a depthwise 3x3/2 conv + BN for
    stride 2), every output concatenated, the first through a 3x3/2 average pool for stride 2."""
    torch.manual_seed(7)
    block = randomize_batchnorm(CatBottleneck(8, 16, block_num=4, stride=stride))
    x = torch.randn(2, 8, 11, 14)
    with torch.no_grad():
        first = conv_bn_relu(x, block.convs[0])
        out, outputs = first, [first]
        if stride == 2:
            conv, bn = block.downsample
            out = batchnorm(F.conv2d(first, conv.weight, None, 2, 1, groups=first.shape[1]), bn)
            outputs = [F.avg_pool2d(first, 3, 2, 1)]
        for conv in block.convs[1:]:
            out = conv_bn_relu(out, conv, padding=1)
            outputs.append(out)
        torch.testing.assert_close(block(x), torch.cat(outputs, dim=1), atol=1e-5, rtol=1e-5)
