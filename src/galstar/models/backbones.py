"""The image backbones by config name (keras.applications, imported lazily)."""

from __future__ import annotations

__all__ = ["BACKBONE_APPLICATIONS"]

#: Backbone name (config ``backbone``) -> ``keras.applications`` attribute.
BACKBONE_APPLICATIONS: dict[str, str] = {
    "efficientnet_b0": "EfficientNetB0",
    "efficientnet_b1": "EfficientNetB1",
    "efficientnet_b2": "EfficientNetB2",
    "efficientnet_b3": "EfficientNetB3",
    "efficientnet_v2_b3": "EfficientNetV2B3",
    "efficientnet_v2_s": "EfficientNetV2S",
    "resnet50": "ResNet50",
    "resnet101": "ResNet101",
    "resnet152": "ResNet152",
}
