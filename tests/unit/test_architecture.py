"""The package's shape, read from its source: imports flow downwards, and only digitviz/ui/ imports Streamlit."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "digitviz"
# The engine's layers, lowest first: each may import only the ones before it.
ENGINE_LAYERS = ["digitviz.data", "digitviz.config", "digitviz.init", "digitviz.blocks", "digitviz.records",
                 "digitviz.losses", "digitviz.models", "digitviz.kernel", "digitviz.carpool", "digitviz.fastai_model",
                 "digitviz.engine"]


def module_name(path):
    """digitviz/engine.py -> digitviz.engine; digitviz/ui/__init__.py -> digitviz.ui."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path):
    """Every name a file imports, at its top or inside a function (a lazy import is still an import)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            anchor = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]) if node.level else ""
            base = ".".join(p for p in (anchor, node.module) if p)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from digitviz import lesson`
    return names


def import_graph():
    """module -> the package's own modules it imports."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imported(path) if m in paths and m != name} for name, path in paths.items()}


def find_cycle(graph):
    """One import cycle as a list of modules (first == last), or [] if the graph has none."""
    done, path = set(), []

    def visit(node):
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return []
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if cycle := visit(nxt):
                return cycle
        path.pop()
        done.add(node)
        return []

    for start in sorted(graph):
        if cycle := visit(start):
            return cycle
    return []


def test_the_graph_is_read_from_the_package():
    graph = import_graph()
    assert set(ENGINE_LAYERS) <= set(graph)
    assert "digitviz.config" in graph["digitviz.engine"]
    assert "digitviz.fastai_model" in graph["digitviz.engine"]  # its lazy import, inside a function
    # `from digitviz import lesson` imports the module digitviz.lesson
    assert "digitviz.lesson" in imported(PACKAGE.parent / "tests" / "unit" / "test_engine.py")


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_the_package_has_no_import_cycle():
    assert find_cycle(import_graph()) == []


def test_engine_layers_import_downwards_only():
    graph = import_graph()
    for i, layer in enumerate(ENGINE_LAYERS):
        above = set(ENGINE_LAYERS[i + 1:])
        assert not graph[layer] & above, f"{layer} imports {sorted(graph[layer] & above)}, a layer above it"


def test_only_the_ui_package_imports_streamlit():
    offenders = [module_name(p) for p in PACKAGE.rglob("*.py") if "ui" not in p.relative_to(PACKAGE).parts[:1]
                 and any(n == "streamlit" or n.startswith("streamlit.") for n in imported(p))]
    assert offenders == []


# What computes a run: the engine, the worker pool, the server's run cache. The page asks digitviz.training's Trainer.
COMPUTING = {"digitviz.train", "digitviz.engine", "digitviz.engine.train", "digitviz.carpool", "digitviz.trajectories",
             "digitviz.workers.shared_pool", "digitviz.workers.TrainingPool", "digitviz.training.Trainer"}


def test_the_page_asks_one_way_in_for_a_runs_records():
    """Whether a run's records come from the cache, a carpool or this thread is decided below the page: in
    digitviz/ui only resources.py builds the Trainer (and trains the default model); every other module asks it."""
    offenders = {module_name(p): sorted(imported(p) & COMPUTING) for p in (PACKAGE / "ui").rglob("*.py")
                 if p.name != "resources.py" and imported(p) & COMPUTING}
    assert offenders == {}
    assert {"digitviz.training.Trainer", "digitviz.workers.shared_pool"} <= imported(PACKAGE / "ui" / "resources.py")
