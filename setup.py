import os
import os.path as osp
import shutil
from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))

# What mmdet's setup.py (add_mim_extension) puts in `mmdet/.mim/`: mmengine
# resolves a `panet_mmdet::panet/x.py` base as
# `<package dir>/.mim/configs/panet/x.py`, and `mim search` / `mim train`
# read `<package dir>/.mim/model-index.yml` and `.mim/tools/`.
MIM_FILES = ('configs', 'tools', 'model-index.yml')
MIM_IGNORE = shutil.ignore_patterns('__pycache__', '*.pyc')


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(HERE, 'panet_mmdet', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def _remove(path: str) -> None:
    if osp.islink(path) or osp.isfile(path):
        os.remove(path)
    elif osp.isdir(path):
        shutil.rmtree(path)


class BuildPyWithMim(build_py):
    """build_py that adds `panet_mmdet/.mim/` (configs, tools, model index).

    A wheel (``pip install .``, ``pip wheel .``) gets copies of the files in
    its build directory; the source tree is left alone. An editable install
    (``pip install -e .``) gets symlinks in the checkout's
    ``panet_mmdet/.mim/`` (ignored by git) so that config edits take effect
    at once, as mmdet's develop mode does. Both are what mmengine's
    ``panet_mmdet::`` lookup reads once ``import panet_mmdet`` has
    registered the scope (panet_mmdet/utils/config_scope.py).
    """

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            self._link_mim(osp.join(HERE, 'panet_mmdet', '.mim'))
        else:
            self._copy_mim(osp.join(self.build_lib, 'panet_mmdet', '.mim'))

    @staticmethod
    def _copy_mim(mim_dir: str) -> None:
        _remove(mim_dir)
        os.makedirs(mim_dir)
        for name in MIM_FILES:
            src = osp.join(HERE, name)
            if osp.isdir(src):
                shutil.copytree(
                    src, osp.join(mim_dir, name), ignore=MIM_IGNORE)
            elif osp.isfile(src):
                shutil.copyfile(src, osp.join(mim_dir, name))

    @staticmethod
    def _link_mim(mim_dir: str) -> None:
        os.makedirs(mim_dir, exist_ok=True)
        for name in MIM_FILES:
            src, dst = osp.join(HERE, name), osp.join(mim_dir, name)
            if not osp.exists(src):
                continue
            _remove(dst)
            try:
                os.symlink(osp.relpath(src, mim_dir), dst)
            except OSError:  # no symlinks (Windows without the privilege)
                if osp.isdir(src):
                    shutil.copytree(src, dst, ignore=MIM_IGNORE)
                else:
                    shutil.copyfile(src, dst)


readme = osp.join(HERE, 'README.md')
long_description = (
    open(readme, encoding='utf-8').read() if osp.isfile(readme) else '')

setup(
    name='panet_mmdet',
    version=read_version(),
    description='PANet (Path Aggregation Network for Instance Segmentation) '
    'as an MMDetection 3.x plugin',
    long_description=long_description,
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    license_files=['LICENSE'],
    packages=find_packages(include=['panet_mmdet', 'panet_mmdet.*']),
    cmdclass={'build_py': BuildPyWithMim},
    python_requires='>=3.9,<3.13',
    # Ranges that work together (see requirements/constraints.txt for the
    # pinned, tested set). mmcv must be built with its ops (mmcv._ext);
    # tools/setup_env.sh does that once and caches the wheel. torch <= 2.13
    # because mmcv 2.x compiles as C++17 and torch >= 2.14 headers need
    # C++20; mmdet 3.3 refuses mmcv >= 2.2. torchvision is needed only by the
    # timm extra (see requirements/timm.txt).
    install_requires=[
        'torch>=2.0,<2.14',
        'mmcv>=2.0.0rc4,<2.2.0',
        'mmengine>=0.10.0,<0.11',
        'mmdet>=3.0.0,<3.4',
        'numpy',
        'opencv-python',
        'pycocotools',
    ],
    extras_require={
        'tests': ['pytest'],
        # tools/make_demo_data.py --background photo (scikit-image's photos)
        'photo': ['scikit-image'],
        # ONNX export (tools/deployment/export_onnx.py) and ONNX Runtime
        # inference (tools/deployment/onnx_infer.py)
        'deploy': ['onnx>=1.14', 'onnxruntime>=1.16'],
        # timm backbones through mmpretrain's TIMMBackbone
        # (configs/panet/panet_timm-resnet50-gn_bufpn-gn_1x_coco.py)
        'timm': ['timm>=0.9', 'mmpretrain>=1.0,<2', 'torchvision'],
    },
    entry_points={
        'console_scripts': [
            # the torch-free ONNX Runtime inference (onnxruntime, numpy,
            # opencv-python only): panet_mmdet/deployment/onnx_infer.py
            'panet-onnx-infer = panet_mmdet.deployment.onnx_infer:main',
        ],
    },
    zip_safe=False,
)
