"""Deprecated: ``python tools/benchmark.py ablation-costs`` (same arguments and output)."""
import os.path as osp, sys; sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # noqa: E401,E702
from benchmarks import main; from benchmarks.ablation_costs import measure  # noqa: E402,E702,F401
if __name__ == '__main__': main(['ablation-costs', *sys.argv[1:]])  # noqa: E701
