"""distgrad's modules import each other in one direction: the graph of module-level imports
is acyclic. Imports inside functions are left out (they run later, on a call); imports inside
a module-level ``__getattr__`` are counted, because such a lazy attribute is part of what the
module provides and is how a cycle gets hidden."""
import ast
import pathlib

import pytest

PACKAGE_ROOT = pathlib.Path(__file__).resolve().parents[2] / "distgrad"


def module_files(root):
    """{dotted module name: path} for every .py file under ``root`` (a package folder)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _ancestors(name):
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _module_level_imports(tree):
    """Import nodes that run when the module is imported (plus module-level ``__getattr__``)."""
    found = []

    def visit(node, top):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                if top and getattr(child, "name", None) == "__getattr__":
                    visit(child, False)
            elif isinstance(child, ast.ClassDef):
                visit(child, False)  # a class body runs at import
            else:
                visit(child, top)
    visit(tree, True)
    return found


def _targets(node, name, is_package, modules):
    """The distgrad modules an import statement in module ``name`` imports."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = name.split(".") if is_package else name.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        pkg = ".".join(base + ([node.module] if node.module else []))
    else:
        pkg = node.module
    out = [pkg]
    for alias in node.names:
        if f"{pkg}.{alias.name}" in modules:  # ``from pkg import submodule``
            out.append(f"{pkg}.{alias.name}")
    return out


def import_graph(root=PACKAGE_ROOT):
    """{module: set of distgrad modules it imports at module level}. Importing a.b.c also
    runs a/__init__ and a/b/__init__, except where those enclose the importer (already
    running before it)."""
    modules = module_files(root)
    graph = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), str(path))
        edges = set()
        for node in _module_level_imports(tree):
            for target in _targets(node, name, is_package, modules):
                for module in _ancestors(target) + [target]:
                    enclosing = module == name or name.startswith(module + ".")
                    if module in modules and not enclosing:
                        edges.add(module)
        graph[name] = edges
    return graph


def find_cycle(graph, within=None):
    """One import cycle among the modules ``within`` (default: all), as a list of modules
    (first == last), or None."""
    within = set(graph) if within is None else within
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, set()) & within):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(within):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def _reach(graph, start):
    """Every module ``start`` imports, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def tangles(graph):
    """The sets of modules that import one another in a circle (strongly connected
    components of more than one module): a module with those that it reaches and that reach it."""
    reach = {node: _reach(graph, node) for node in graph}
    found, placed = [], set()
    for node in sorted(graph):
        if node in placed or node not in reach[node]:
            continue
        component = {node} | {other for other in reach[node] if node in reach[other]}
        placed |= component
        found.append(component)
    return found


def test_distgrad_module_level_imports_have_no_cycle():
    graph = import_graph()
    cycles = [find_cycle(graph, component) for component in tangles(graph)]
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def _under(module, *packages):
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_the_process_world_sits_below_nn_and_data_which_sit_below_distributed():
    graph = import_graph()
    wrong = []
    for module in sorted(graph):
        if _under(module, "distgrad.world"):
            above = ("distgrad.nn", "distgrad.optim", "distgrad.data", "distgrad.distributed")
        elif _under(module, "distgrad.nn", "distgrad.optim", "distgrad.data") and module != "distgrad.nn.parallel":
            above = ("distgrad.distributed",)  # nn.parallel re-exports DDP: it sits above distributed
        else:
            continue
        wrong += [f"{module} -> {m}" for m in sorted(_reach(graph, module)) if _under(m, *above)]
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong[:20])


def _write(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.parametrize("files, cycle", [
    # a relative import back up through a parent package's __init__
    ({"pkg/__init__.py": "from . import a\n", "pkg/a.py": "from .sub import b\n",
      "pkg/sub/__init__.py": "from ..a import x\n", "pkg/sub/b.py": ""},
     ["pkg.a", "pkg.sub", "pkg.a"]),
    # a cycle held open by a lazy module __getattr__
    ({"pkg/__init__.py": "", "pkg/a.py": "from . import b\n",
      "pkg/b.py": "def __getattr__(name):\n    from .a import thing\n    return thing\n"},
     ["pkg.a", "pkg.b", "pkg.a"]),
])
def test_the_check_finds_cycles(tmp_path, files, cycle):
    _write(tmp_path, files)
    graph = import_graph(tmp_path / "pkg")
    assert find_cycle(graph) == cycle
    assert [set(cycle)] == tangles(graph)


def test_the_check_ignores_function_level_imports_and_enclosing_packages(tmp_path):
    _write(tmp_path, {"pkg/__init__.py": "from .a import f\n",
                      "pkg/a.py": "from . import b\ndef f():\n    from .b import g\n",
                      "pkg/b.py": "import pkg.c\ndef g():\n    from . import a\n", "pkg/c.py": ""})
    graph = import_graph(tmp_path / "pkg")
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": set()}
    assert find_cycle(graph) is None and tangles(graph) == []
