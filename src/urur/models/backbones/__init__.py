"""Backbones written in plain PyTorch: ResNet (torchvision layout) and STDC."""

from urur.models.backbones.resnet import BasicBlock, ResNet, resnet18
from urur.models.backbones.stdc import CatBottleneck, ConvX, STDCNet, STDCShallow
from urur.models.pretrained import PretrainedWeightsError

__all__ = [
    "BasicBlock",
    "CatBottleneck",
    "ConvX",
    "PretrainedWeightsError",
    "ResNet",
    "STDCNet",
    "STDCShallow",
    "resnet18",
]
