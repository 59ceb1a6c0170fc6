"""autograd.graph: the graph backward would walk, as DOT text."""
import distgrad as dg
from distgrad import autograd


def test_graph_names_ops_shapes_and_parameters():
    w = dg.randn(3, 4, requires_grad=True)
    b = dg.zeros(3, requires_grad=True)
    x = dg.randn(2, 4)
    loss = dg.relu(dg.linear(x, w, b)).sum()
    dot = autograd.graph(loss, params={"fc.weight": w, "fc.bias": b})
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for text in ("Linear", "Relu", "Sum", "(2, 3)", "fc.weight", "(3, 4)", "fc.bias", "->"):
        assert text in dot, text
    assert dot.count("fc.weight") == 1


def test_graph_uses_tensor_names_and_declares_a_shared_leaf_once():
    a = dg.ones(2, requires_grad=True)
    a.name = "alpha"
    out = a * a + a
    dot = autograd.graph(out)
    assert "alpha" in dot and "Mul" in dot and "Add" in dot
    assert sum('label="alpha' in line for line in dot.splitlines()) == 1


def test_graph_of_a_leaf(tmp_path):
    a = dg.ones(2, requires_grad=True)
    path = tmp_path / "g.dot"
    dot = autograd.graph(a, path=path)
    assert "(2,)" in dot and path.read_text() == dot
