r"""PANet's modules against stock mmdet's, measured in one run: medians of
interleaved calls after warm-up, with ratios (one subcommand per comparison;
``tools/benchmark.py SUBCOMMAND --help`` for its options).

    python tools/benchmark.py model configs/demo/panet_r18_bufpn-gn_demo.py \
        configs/demo/mask-rcnn_r18_fpn-gn_demo.py
    python tools/benchmark.py neck --device cuda --img-size 800 1333
    python tools/benchmark.py ablation-costs CONFIG1 CONFIG2 --out costs.json
"""
from benchmarks import main

if __name__ == '__main__':
    # main() returns the subcommand's measurements (for callers in Python);
    # the script exits 0 after a run, and non-zero only on an error
    main(description=__doc__)
