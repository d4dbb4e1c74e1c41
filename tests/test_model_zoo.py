"""The model zoo's metadata: configs/panet/metafile.yml (mmdet's format)
lists every config of configs/panet/, model-index.yml imports it, and the
authors' numbers and links agree with configs/panet/README.md."""
import glob
import os.path as osp
import re

import yaml

from conftest import ROOT

METAFILE = osp.join(ROOT, 'configs', 'panet', 'metafile.yml')


def _models():
    with open(METAFILE) as f:
        return yaml.safe_load(f)['Models']


def test_metafile_lists_every_config_once():
    configs = sorted(
        osp.relpath(p, ROOT) for p in glob.glob(
            osp.join(ROOT, 'configs', 'panet', '**', '*.py'), recursive=True))
    listed = [m['Config'] for m in _models()]
    assert sorted(listed) == configs
    for m in _models():
        assert m['Name'] == osp.splitext(osp.basename(m['Config']))[0]
        assert m['In Collection'] == 'PANet'


def test_model_index_imports_the_metafile():
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    assert index['Import'] == ['configs/panet/metafile.yml']


def test_official_results_and_links_match_the_zoo_readme():
    readme = open(osp.join(ROOT, 'configs', 'panet', 'README.md')).read()
    rows = {
        m: line
        for line in readme.splitlines()
        for m in re.findall(r'\((official/[^)]+\.py)\)', line)
    }
    official = [m for m in _models() if 'Weights' in m]
    assert len(official) == 3
    for m in official:
        row = rows['official/' + osp.basename(m['Config'])]
        assert m['Weights'] in row
        for result in m['Results']:
            for value in result['Metrics'].values():
                assert f'| {value} |' in row, (m['Name'], value)
