"""Loading configs and preparing their models to build without a network."""
from mmengine.config import Config, ConfigDict


def load_config(path: str) -> Config:
    """A config file, or one of mmdet's as
    ``mmdet::path/in/its/configs.py``."""
    if path.startswith('mmdet::'):
        from mmengine.hub import get_config
        return get_config(path)
    return Config.fromfile(path)


def offline_model_cfg(cfg: Config) -> ConfigDict:
    """``cfg.model`` ready to build without downloading anything.

    Imports the config's ``custom_imports`` (their modules register the
    types the model names) and turns off timm's ``pretrained`` download in
    ``*TIMMBackbone`` backbones, which happens at construction. mmdet's
    ``init_cfg`` weights load only in ``init_weights`` and are left as they
    are. ``cfg`` itself is not changed.
    """
    from mmengine.utils import import_modules_from_strings
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    model_cfg = cfg.model.copy()
    backbone = model_cfg.get('backbone', {})
    if 'TIMMBackbone' in str(backbone.get('type', '')):
        model_cfg.backbone = dict(backbone, pretrained=False)
        model_cfg.backbone.pop('weights_file', None)
    return model_cfg
