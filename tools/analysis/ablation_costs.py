"""Deprecated: ``python tools/benchmark.py ablation-costs`` (same arguments
and output); kept until the callers of this path move."""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from benchmarks import main  # noqa: E402
from benchmarks.ablation_costs import measure  # noqa: E402,F401

if __name__ == '__main__':
    main(['ablation-costs', *sys.argv[1:]])
