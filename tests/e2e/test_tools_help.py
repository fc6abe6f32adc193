"""Every tool answers --help with its description and examples (written out
in the tool, not cut from its docstring), in this process."""
import glob
import os.path as osp

import pytest

from helpers.runs import ROOT, run_tool


def _is_tool(path: str) -> bool:
    """A script, not a helper module beside the scripts (op_counts.py)."""
    with open(path) as f:
        return "if __name__ == '__main__':" in f.read()


TOOLS = sorted(
    osp.relpath(p, osp.join(ROOT, 'tools'))
    for p in glob.glob(osp.join(ROOT, 'tools', '*.py')) +
    glob.glob(osp.join(ROOT, 'tools', 'analysis_tools', '*.py'))
    if _is_tool(p))


def test_every_tool_is_listed():
    assert len(TOOLS) == 16, TOOLS


@pytest.mark.parametrize('tool', TOOLS)
def test_help(tool):
    proc = run_tool(tool, '--help')
    assert proc.stdout.startswith('usage: '), proc.stdout[:200]
    assert proc.stderr == ''
    if tool != 'make_demo_data.py':  # its description shows the layout
        assert 'Example' in proc.stdout, proc.stdout[-500:]
    assert f'tools/{tool}' in proc.stdout or tool == 'make_demo_data.py'
