"""The subcommands of ``tools/benchmark.py``, one module each.

A module has ``NAME`` (the subcommand), a docstring (its first line is the
subcommand's one-line help, the rest its ``--help`` description),
``add_arguments(parser)`` and ``run(args)``; what they share (options,
threads, timing, memory, tables) is in :mod:`.common`.
"""
import argparse
import importlib

MODULES = ('model', 'summary', 'neck', 'roi_extractor', 'mask_head',
           'onnx_latency', 'ablation_costs')


def build_parser(description: str = None) -> argparse.ArgumentParser:
    modules = [
        importlib.import_module(f'{__name__}.{name}') for name in MODULES
    ]
    width = max(len(m.NAME) for m in modules) + 2
    # the list by hand: Python 3.11's argparse wraps long subcommand names
    epilog = 'subcommands:\n' + '\n'.join(
        f'  {m.NAME:<{width}}{m.__doc__.splitlines()[0]}' for m in modules)
    parser = argparse.ArgumentParser(
        prog='tools/benchmark.py',
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(
        dest='subcommand',
        metavar='SUBCOMMAND',
        required=True,
        help='the benchmark to run (list below)')
    for module in modules:
        p = sub.add_parser(
            module.NAME,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv=None, description: str = None):
    """Run the subcommand of ``argv``; return what its ``run`` returns
    (its measurements), which ``tools/benchmark.py`` does not pass to
    ``sys.exit``: a run that ends exits 0."""
    args = build_parser(description).parse_args(argv)
    return args.run(args)
