"""``panet_mmdet::`` config bases, as ``mmdet::`` ones.

mmengine 0.10 resolves ``_base_ = 'pkg::dir/x.py'`` only for the packages
named in its ``mmengine.config.utils.MODULE2PACKAGE`` (the OpenMMLab
projects): for any other name ``Config.fromfile`` fails with ``AssertionError:
mmengine does not support to load pkg config``. :func:`register_config_scope`
(run by ``import panet_mmdet``) adds ``panet_mmdet``, after which the base is
read from ``<panet_mmdet package dir>/.mim/configs/dir/x.py``: a wheel ships
copies of ``configs/``, ``tools/`` and ``model-index.yml`` there and an
editable install symlinks them (setup.py).

The base is parsed before the config's own ``custom_imports``, so
``import panet_mmdet`` must come before ``Config.fromfile`` (the project's
tools do that).
"""

# What mmengine passes to its is_installed / get_installed_path. A module
# inside the package rather than the distribution name: for a distribution
# found by pkg_resources mmengine takes `<distribution location>/panet_mmdet`,
# which for an editable install is site-packages (where the package is not);
# for a name that is no distribution it falls back to importlib's find_spec
# and takes the directory of the module's file, which is the package
# directory for both a wheel and an editable install.
LOOKUP_MODULE = 'panet_mmdet.version'


def register_config_scope() -> None:
    """Let mmengine's ``Config`` resolve ``panet_mmdet::`` bases."""
    try:
        from mmengine.config import utils as config_utils
    except ImportError:  # no mmengine (a torch-free runtime): no configs
        return
    config_utils.MODULE2PACKAGE.setdefault('panet_mmdet', LOOKUP_MODULE)
