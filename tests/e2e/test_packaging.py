"""The plugin's declared dependencies agree with requirements.txt, the
pins the whole stack is tested with."""
import os.path as osp
import re
import tomllib

from helpers.runs import ROOT


def _pins(lines):
    out = {}
    for line in lines:
        line = line.split('#')[0].strip()
        if line:
            name = re.split(r'[=<>!~ ]', line, maxsplit=1)[0].lower()
            out[name] = line
    return out


def test_pyproject_pins_equal_requirements():
    with open(osp.join(ROOT, 'requirements.txt')) as f:
        required = _pins(f)
    with open(
            osp.join(ROOT, 'projects', 'field_detr', 'pyproject.toml'),
            'rb') as f:
        project = tomllib.load(f)['project']
    declared = _pins(project['dependencies'])
    for extra in ('onnx', 'supervision', 'postgres', 'auth', 'browser-tests'):
        declared.update(_pins(project['optional-dependencies'][extra]))
    for name, pin in declared.items():
        assert required.get(name) == pin, (name, pin, required.get(name))
    # every runtime or extra package of requirements.txt is declared;
    # only the test tools are not
    assert set(required) - set(declared) <= {
        'pytest', 'pytest-xdist', 'ruff', 'isort', 'yapf'
    }
    assert {'onnx', 'supervision', 'postgres', 'auth',
            'browser-tests'} <= set(project['optional-dependencies'])
    assert osp.isfile(
        osp.join(ROOT, 'projects', 'field_detr', 'field_detr', 'py.typed'))
