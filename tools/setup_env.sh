#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment at .venv/ with the pinned,
# tested stack of requirements/constraints.txt, mmcv built with its ops, and
# panet_mmdet installed in editable mode (with panet_mmdet/.mim/ symlinks, so
# that `panet_mmdet::` config bases resolve to the checkout's configs/).
#
#   bash tools/setup_env.sh          # what `make demo` / `make test` call first
#
# Idempotent: once an environment has been verified, a stamp file records the
# inputs it was built from and later runs return at once. The mmcv wheel
# (7-17 minutes to compile on 2 cores) is built once per torch version,
# Python and kind of ops (CPU only, or CUDA for a list of GPU architectures)
# and kept in $PANET_WHEEL_CACHE (default ~/.cache/panet_mmdet/wheels), so new
# clones and fresh .venv/ directories reuse it (tools/mmcv_wheel.py). On a
# machine whose GPU torch can use, only a CUDA wheel for that GPU is
# installed, built here if none is cached, and its RoIAlign and NMS are run
# on the GPU before the set-up says it is ready.
#
# Environment knobs: PYTHON (interpreter, default python3.11 or python3),
# PANET_WHEEL_CACHE, MAX_JOBS (mmcv compile jobs, default: number of cores),
# PANET_MMCV_CUDA_ARCHS (build a CUDA wheel for these architectures, as
# TORCH_CUDA_ARCH_LIST, e.g. "8.0;9.0+PTX"; on a GPU machine the default is
# its GPU's; on a machine without one, see docs/gpu.md).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
CONSTRAINTS="$ROOT/requirements/constraints.txt"
MMCV_VERSION=2.1.0
STAMP="$VENV/.panet_mmdet_setup"

die() {
    echo "" >&2
    echo "setup_env: ERROR: $1" >&2
    [ $# -ge 2 ] && echo "setup_env: what to do: $2" >&2
    exit 1
}
step() { echo "setup_env: $*"; }

# The stamp is a hash of everything that decides the environment's contents.
inputs_hash() {
    cat "$CONSTRAINTS" "$ROOT/setup.py" "$ROOT"/requirements/*.txt \
        "${BASH_SOURCE[0]}" "$ROOT/tools/mmcv_wheel.py" | sha256sum | cut -d' ' -f1
}
HASH=$(inputs_hash)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ] && [ -x "$VENV/bin/python" ]; then
    exit 0
fi

# ---- interpreter ------------------------------------------------------------
if [ -z "${PYTHON:-}" ]; then
    if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11
    elif command -v python3 >/dev/null 2>&1; then PYTHON=python3
    else die "no Python found (python3.11 or python3)" \
             "install Python 3.11 (3.9-3.12 work) and rerun, or set PYTHON=/path/to/python"
    fi
fi
command -v "$PYTHON" >/dev/null 2>&1 || die "PYTHON=$PYTHON not found" "set PYTHON to a Python 3.9-3.12 interpreter"
PYVER=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
"$PYTHON" -c 'import sys; sys.exit(not ((3, 9) <= sys.version_info[:2] <= (3, 12)))' \
    || die "Python $PYVER is not supported (torch 2.13 + mmcv 2.1 need 3.9-3.12; 3.11 is tested)" \
           "install Python 3.11 and rerun with PYTHON=python3.11"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
    || die "Python $PYVER has no venv/ensurepip module" "install your distribution's python3-venv package"

# ---- virtual environment ----------------------------------------------------
rm -f "$STAMP"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    step "creating $VENV with $PYTHON ($PYVER)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" || die "could not create $VENV" "check disk space and permissions"
fi
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip --disable-pip-version-check)
[ "$("$VPY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$PYVER" ] \
    || die "$VENV was made with another Python than $PYTHON" "remove .venv/ and rerun"

step "installing build tools, torch and torchvision (pinned in requirements/constraints.txt)"
"${PIP[@]}" install -q -c "$CONSTRAINTS" pip setuptools wheel ninja \
    || die "pip could not install pip/setuptools/wheel/ninja" "check access to the package registry"
# torch 2.13.0's standard build (CUDA 13 libraries, about 4 GB, runs on CPU
# too): the registry's torchvision 0.28.0 does not import with the +cpu build.
"${PIP[@]}" install -q -c "$CONSTRAINTS" torch torchvision numpy \
    || die "pip could not install torch and torchvision" "check access to the package registry and free disk space (about 5 GB); torch==2.13.0 is needed: mmcv 2.x does not compile against torch >= 2.14"
"$VPY" -c 'import torchvision.ops' 2>/dev/null \
    || die "torchvision does not import with this torch ($("$VPY" -c 'import torch; print(torch.__version__)'))" \
           "remove .venv/ and rerun; torch and torchvision must be the builds pinned in requirements/constraints.txt"

# ---- mmcv with ops, built once and cached --------------------------------------
TORCH_TAG=$("$VPY" -c 'import torch; print(torch.__version__.replace("+", "_"))')
WHEEL_CACHE="${PANET_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/panet_mmdet/wheels}/torch-$TORCH_TAG"
PYTAG="cp${PYVER/./}"
MMCV_WHEEL=("$VPY" "$ROOT/tools/mmcv_wheel.py")
NEED=$("${MMCV_WHEEL[@]}" need 2>/dev/null) || die "torch does not import" "remove .venv/ and rerun"
ARCHS=${PANET_MMCV_CUDA_ARCHS:-}
if [ "$NEED" != cpu ]; then
    ARCHS=${ARCHS:-${NEED#cuda:}}
    step "a usable GPU (compute capability ${NEED#cuda:}): mmcv's ops must include CUDA kernels for it"
fi
# where a wheel built here goes: ops-cpu/ or ops-cuda-<ARCHS>/
DEST=$("${MMCV_WHEEL[@]}" folder "$WHEEL_CACHE" ${ARCHS:+"$ARCHS"}) \
    || die "PANET_MMCV_CUDA_ARCHS='$ARCHS' is not an arch list" "give it as TORCH_CUDA_ARCH_LIST, e.g. '8.0;9.0+PTX'"
if [ "$NEED" = cpu ] && [ -n "$ARCHS" ]; then  # a CUDA wheel built here, for a GPU machine
    WHEEL=$(ls "$DEST"/mmcv-$MMCV_VERSION-$PYTAG-*.whl 2>/dev/null | head -n1 || true)
else
    WHEEL=$("${MMCV_WHEEL[@]}" pick "$WHEEL_CACHE" "$MMCV_VERSION" "$PYTAG" "$NEED")
fi
if [ -z "$WHEEL" ]; then
    command -v g++ >/dev/null 2>&1 || die "no C++ compiler (g++) to build mmcv $MMCV_VERSION" \
        "install one (Debian/Ubuntu: apt-get install g++) and the Python headers (python3-dev)"
    "$VPY" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
        || die "no Python.h for Python $PYVER" "install the Python development headers (Debian/Ubuntu: python3-dev)"
    BUILD_DIR=$(mktemp -d)
    trap 'rm -rf "$BUILD_DIR"' EXIT
    step "downloading the mmcv $MMCV_VERSION source"
    "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation \
        "mmcv==$MMCV_VERSION" -d "$BUILD_DIR/src" \
        || die "could not download the mmcv $MMCV_VERSION source archive" "check access to the package registry"
    JOBS=${MAX_JOBS:-$(nproc 2>/dev/null || echo 2)}
    if [ -n "$ARCHS" ]; then
        command -v nvcc >/dev/null 2>&1 || [ -x "${CUDA_HOME:-/nonexistent}/bin/nvcc" ] \
            || die "building mmcv's CUDA ops needs nvcc (the CUDA toolkit of torch's CUDA $("$VPY" -c 'import torch; print(torch.version.cuda)'))" \
                   "install it and set CUDA_HOME, or take nvcc from the package registry as docs/gpu.md shows"
        export FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$ARCHS"
        WHAT="CPU and CUDA ops for $ARCHS"
    else
        WHAT="CPU ops"
    fi
    step "building mmcv $MMCV_VERSION with $WHAT ($JOBS jobs; 7-17 min on 2 cores for the CPU ops, once per machine)"
    step "build log: $BUILD_DIR/build.log"
    if ! MMCV_WITH_OPS=1 MAX_JOBS=$JOBS "${PIP[@]}" wheel --no-build-isolation --no-deps \
            "$BUILD_DIR"/src/mmcv-$MMCV_VERSION.tar.gz -w "$BUILD_DIR/wheel" > "$BUILD_DIR/build.log" 2>&1; then
        tail -n 30 "$BUILD_DIR/build.log" >&2
        cp "$BUILD_DIR/build.log" "$ROOT/mmcv-build.log" 2>/dev/null || true
        die "the mmcv $MMCV_VERSION build failed (log above, full log in mmcv-build.log)" \
            "check the compiler (g++ with C++17), the Python headers and free disk space, then rerun"
    fi
    BUILT=$(ls "$BUILD_DIR"/wheel/mmcv-*.whl)
    OPS=$("${MMCV_WHEEL[@]}" ops "$BUILT") \
        || die "the mmcv wheel was built without its ops (mmcv/_ext missing)" "rerun; MMCV_WITH_OPS=1 and --no-build-isolation are required"
    [ -z "$ARCHS" ] || [ "$OPS" = cuda ] \
        || die "the mmcv wheel was built without CUDA kernels although FORCE_CUDA=1" "see $BUILD_DIR/build.log"
    mkdir -p "$DEST"
    mv "$BUILT" "$DEST/"
    WHEEL="$DEST/$(basename "$BUILT")"
    step "cached $WHEEL"
fi
step "installing $(basename "$(dirname "$WHEEL")")/$(basename "$WHEEL")"
"${PIP[@]}" install -q --no-deps --force-reinstall "$WHEEL" || die "could not install $WHEEL" "remove it from $WHEEL_CACHE and rerun to rebuild"
# ---- the rest of the stack and the package ---------------------------------------
step "installing mmengine, mmdet, onnx + onnxruntime (deployment), timm + mmpretrain, scikit-image (demo photos), openmim and test requirements"
"${PIP[@]}" install -q -c "$CONSTRAINTS" -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt" \
    -r "$ROOT/requirements/deploy.txt" -r "$ROOT/requirements/timm.txt" -r "$ROOT/requirements/photo.txt" \
    || die "pip could not install the runtime requirements" "check access to the package registry"
# openmim without its opendatalab requirement (see requirements/mim.txt)
"${PIP[@]}" install -q --no-deps -c "$CONSTRAINTS" -r "$ROOT/requirements/mim.txt" \
    || die "pip could not install openmim" "check access to the package registry"
step "installing panet_mmdet in editable mode (panet_mmdet/.mim/ links configs/, tools/, model-index.yml)"
"${PIP[@]}" install -q --no-build-isolation --no-deps -e "$ROOT" \
    || die "pip could not install panet_mmdet in editable mode" "see the pip output above"
# The one conflict left on purpose: openmim's opendatalab (requirements/mim.txt).
CONFLICTS=$("${PIP[@]}" check 2>&1 | grep -v '^openmim [0-9.]* requires opendatalab, which is not installed' | grep -v '^No broken requirements' || true)
[ -z "$CONFLICTS" ] || { echo "$CONFLICTS" >&2; die "installed packages have conflicting requirements" "see the list above"; }

if [ "$NEED" != cpu ]; then  # mmcv.ops needs mmengine, installed above
    "${MMCV_WHEEL[@]}" verify-cuda \
        || die "mmcv's ops do not run on this GPU ($WHEEL)" "remove that wheel and rerun to rebuild it here"
fi
step "verifying imports"
"$VPY" - <<'PY' || die "the environment does not import cleanly" "see the traceback above; remove .venv/ and rerun"
import mmcv, mmcv.ops, mmengine, mmdet, torch, onnx, onnxruntime
import torchvision, timm, mmpretrain
import skimage.data, mim
from mmcv.ops import RoIAlign  # needs mmcv._ext
from mmpretrain.models import TIMMBackbone
import panet_mmdet, panet_mmdet.deployment
import os.path as osp
# `panet_mmdet::` config bases are read from panet_mmdet/.mim/configs/
# (setup.py links it in an editable install)
assert osp.isfile(osp.join(osp.dirname(panet_mmdet.__file__), '.mim', 'configs',
                           'panet', 'metafile.yml')), 'panet_mmdet/.mim/configs missing'
print(f'setup_env: torch {torch.__version__}, torchvision '
      f'{torchvision.__version__}, mmcv {mmcv.__version__}, '
      f'mmengine {mmengine.__version__}, mmdet {mmdet.__version__}, '
      f'onnx {onnx.__version__}, onnxruntime {onnxruntime.__version__}, '
      f'timm {timm.__version__}, mmpretrain {mmpretrain.__version__}, '
      f'panet_mmdet {panet_mmdet.__version__}')
PY
echo "$HASH" > "$STAMP"
step "environment ready: $VENV"
