"""The import graph stays a tree of layers: no module imports itself back through others.

The layering between packages (adapters -> bots -> dialogue -> crm) is import-linter's
contract in pyproject.toml (`make lint`); this checks what it cannot: no cycle between
modules anywhere, function-local imports included.
"""

from __future__ import annotations

import grimp

PACKAGES = ("adapters", "bots", "dialogue", "crm")


def test_no_module_imports_itself_back() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    cycles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                cycles.append(" -> ".join((module, *back)))
    assert cycles == []
