"""Which mmcv wheel the set-up may install here (tools/setup_env.sh).

mmcv's wheel has the same file name whether its ops were compiled for the
CPU only or for CUDA too, so the wheel cache keeps them apart by folder:

    <cache>/torch-<torch version>/ops-cpu/mmcv-*.whl
    <cache>/torch-<torch version>/ops-cuda-<arch list>/mmcv-*.whl
    <cache>/torch-<torch version>/mmcv-*.whl   (older set-ups: read to tell)

A machine with a usable GPU only takes a CUDA wheel built for its compute
capability (or with PTX for an older one); a CPU machine takes any. Only the
standard library: it runs in the set-up's interpreter before torch is
imported (``need`` imports torch).

    python tools/mmcv_wheel.py need                      # cpu | cuda:9.0
    python tools/mmcv_wheel.py pick CACHE VERSION PYTAG NEED
    python tools/mmcv_wheel.py folder CACHE ARCH_LIST    # where a build goes
    python tools/mmcv_wheel.py ops WHEEL                 # cpu | cuda
    python tools/mmcv_wheel.py verify-cuda               # ops on the GPU
"""
import glob
import os.path as osp
import sys
import zipfile
from typing import List, Optional

# in every object nvcc links: the kernels' registration with the CUDA
# runtime, and the section that holds them
_CUDA_MARKERS = (b'__cudaRegisterFatBinary', b'.nv_fatbin')
_OVERLAP = max(len(m) for m in _CUDA_MARKERS)


def wheel_ops(path: str) -> str:
    """``'cuda'`` when the wheel's compiled ops hold CUDA kernels, else
    ``'cpu'``; ValueError when it has no compiled ops at all."""
    with zipfile.ZipFile(path) as wheel:
        exts = [
            n for n in wheel.namelist()
            if n.startswith('mmcv/_ext') and n.endswith('.so')
        ]
        if not exts:
            raise ValueError(f'{path} has no compiled ops (mmcv/_ext*.so)')
        for name in exts:
            with wheel.open(name) as f:
                tail = b''
                for chunk in iter(lambda: f.read(1 << 20), b''):
                    if any(m in tail + chunk for m in _CUDA_MARKERS):
                        return 'cuda'
                    tail = chunk[-_OVERLAP:]
    return 'cpu'


def parse_arch_list(text: str) -> List[str]:
    """``'8.0;9.0+PTX'`` or ``'8.0 9.0+PTX'`` -> ``['8.0', '9.0+PTX']``."""
    archs = text.replace(';', ' ').replace(',', ' ').split()
    for arch in archs:
        number = arch[:-4] if arch.endswith('+PTX') else arch
        major, _, minor = number.partition('.')
        if not (major.isdigit() and minor.isdigit()):
            raise ValueError(f'arch list entry {arch!r}: expected like '
                             "'8.0' or '9.0+PTX' (TORCH_CUDA_ARCH_LIST)")
    if not archs:
        raise ValueError('empty CUDA arch list')
    return archs


def folder(cache: str, arch_list: Optional[str]) -> str:
    """The cache folder of a wheel built with these archs (None: CPU)."""
    if not arch_list:
        return osp.join(cache, 'ops-cpu')
    return osp.join(cache, 'ops-cuda-' + '_'.join(parse_arch_list(arch_list)))


def _version(arch: str):
    number = arch[:-4] if arch.endswith('+PTX') else arch
    major, minor = number.split('.')
    return int(major), int(minor)


def covers(archs: List[str], capability: str) -> bool:
    """Whether kernels for ``archs`` run on a GPU of ``capability``: the
    same major version at or below its minor one (binary compatible), or
    PTX from an older arch (compiled at load time)."""
    want = _version(capability)
    for arch in archs:
        have = _version(arch)
        if have[0] == want[0] and have[1] <= want[1]:
            return True
        if arch.endswith('+PTX') and have <= want:
            return True
    return False


def pick(cache: str, version: str, pytag: str, need: str) -> Optional[str]:
    """The cached wheel for ``need`` (``'cpu'`` or ``'cuda:X.Y'``), or
    None. A CPU machine prefers a CPU wheel; a GPU machine never gets
    one."""
    pattern = f'mmcv-{version}-{pytag}-*.whl'
    cpu = sorted(glob.glob(osp.join(cache, 'ops-cpu', pattern)))
    cuda = []
    for path in sorted(glob.glob(osp.join(cache, 'ops-cuda-*', pattern))):
        archs = osp.basename(osp.dirname(path))[len('ops-cuda-'):]
        cuda.append((path, archs.split('_')))
    legacy = sorted(glob.glob(osp.join(cache, pattern)))
    if need == 'cpu':
        found = cpu + [p for p, _ in cuda] + legacy
        return found[0] if found else None
    capability = need.split(':', 1)[1]
    for path, archs in cuda:
        if covers(archs, capability):
            return path
    return None  # a legacy wheel names no archs: rebuilt for this GPU


def need() -> str:
    """``'cuda:X.Y'`` (the first GPU's compute capability) when torch can
    use a GPU here, else ``'cpu'``."""
    import torch
    if not torch.cuda.is_available():
        return 'cpu'
    major, minor = torch.cuda.get_device_capability(0)
    return f'cuda:{major}.{minor}'


def verify_cuda() -> None:
    """RoIAlign and NMS of the installed mmcv on the GPU, equal to the
    CPU's: raises when mmcv has no CUDA kernels ("not implemented for
    device cuda") or they compute something else."""
    import torch
    from mmcv.ops import nms, roi_align
    g = torch.Generator().manual_seed(0)
    feats = torch.rand(1, 8, 32, 32, generator=g)
    rois = torch.tensor([[0., 2., 3., 20., 25.], [0., 10., 1., 30., 14.]])
    cpu = roi_align(feats, rois, (7, 7), 0.5, 2, 'avg', True)
    gpu = roi_align(feats.cuda(), rois.cuda(), (7, 7), 0.5, 2, 'avg', True)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-5, atol=1e-5)
    boxes = torch.rand(200, 2, generator=g) * 50
    boxes = torch.cat(
        [boxes, boxes + 5 + torch.rand(200, 2, generator=g) * 20], 1)
    scores = torch.rand(200, generator=g)
    _, keep_cpu = nms(boxes, scores, 0.5)
    _, keep_gpu = nms(boxes.cuda(), scores.cuda(), 0.5)
    assert torch.equal(keep_gpu.cpu(), keep_cpu), 'CUDA NMS differs'
    print(f'mmcv ops on {torch.cuda.get_device_name(0)}: RoIAlign and NMS '
          'equal to the CPU')


def main(argv: List[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ('', [])
    if command == 'need' and not args:
        print(need())
    elif command == 'pick' and len(args) == 4:
        print(pick(*args) or '')
    elif command == 'folder' and len(args) in (1, 2):
        print(folder(args[0], args[1] if len(args) == 2 else None))
    elif command == 'ops' and len(args) == 1:
        print(wheel_ops(args[0]))
    elif command == 'verify-cuda' and not args:
        verify_cuda()
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
