"""Backbones. ``timm_backbone`` (timm models through mmpretrain) is imported
on demand, by configs that list it in ``custom_imports``: it needs the
``timm`` extra."""
