import os.path as osp

from setuptools import find_packages, setup


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(osp.dirname(osp.abspath(__file__)), 'panet_mmdet',
                       'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


HERE = osp.dirname(osp.abspath(__file__))
readme = osp.join(HERE, 'README.md')
long_description = (open(readme, encoding='utf-8').read()
                    if osp.isfile(readme) else '')

setup(
    name='panet_mmdet',
    version=read_version(),
    description='PANet (Path Aggregation Network for Instance Segmentation) '
    'as an MMDetection 3.x plugin',
    long_description=long_description,
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(include=['panet_mmdet', 'panet_mmdet.*']),
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
        'photo': ['scikit-image'],
        # ONNX export (tools/deployment/export_onnx.py) and ONNX Runtime
        # inference (tools/deployment/onnx_infer.py)
        'deploy': ['onnx>=1.14', 'onnxruntime>=1.16'],
        # timm backbones through mmpretrain's TIMMBackbone
        # (configs/panet/panet_timm-r50-gn_fpn-gn_1x_coco.py)
        'timm': ['timm>=0.9', 'mmpretrain>=1.0,<2', 'torchvision'],
    },
    zip_safe=False,
)
