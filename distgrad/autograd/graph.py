"""The computation graph that backward would traverse, as Graphviz DOT text."""
import shutil
import subprocess


def graph(tensor, params=None, path=None):
    """DOT text of ``tensor``'s graph: ops with output shapes, leaves with parameter names
    (from ``params``, a dict or ``module.named_parameters()``, or a tensor's ``name``).
    With ``path`` ending in .png or .svg, render it when the Graphviz ``dot`` program exists."""
    names = {id(p): n for n, p in (dict(params).items() if params is not None else ())}
    lines = ["digraph distgrad {", '  node [fontname="Helvetica", fontsize=10];']
    seen = set()

    def leaf_label(t):
        name = names.get(id(t)) or t.name or "leaf"
        return f"{name}\\n{tuple(t.shape)}"

    if tensor.grad_fn is None:
        lines.append(f'  n{id(tensor)} [label="{leaf_label(tensor)}", shape=box, style=filled, fillcolor=lightblue];')
    stack = [tensor.grad_fn] if tensor.grad_fn is not None else []
    if stack:
        seen.add(stack[0])
        lines.append(f'  f{id(stack[0])} [label="{stack[0].name}\\n{tuple(stack[0].out_shape)}", '
                     'style=filled, fillcolor=lightgreen];')
    while stack:
        fn = stack.pop()
        if fn.inputs is None:
            continue
        for t, child in zip(fn.inputs, fn.edges):
            if child is not None:
                if child not in seen:
                    seen.add(child)
                    lines.append(f'  f{id(child)} [label="{child.name}\\n{tuple(child.out_shape)}"];')
                    stack.append(child)
                lines.append(f"  f{id(child)} -> f{id(fn)};")
            elif t.requires_grad:
                lines.append(f'  n{id(t)} [label="{leaf_label(t)}", shape=box, style=filled, fillcolor=lightblue];')
                lines.append(f"  n{id(t)} -> f{id(fn)};")
    lines.append("}")
    dot = "\n".join(dict.fromkeys(lines))  # a leaf used twice is declared once
    if path is not None:
        fmt = str(path).rsplit(".", 1)[-1]
        if fmt in ("png", "svg", "pdf"):
            if shutil.which("dot") is None:
                raise RuntimeError("graph: rendering needs the Graphviz 'dot' program "
                                   "(apt-get install graphviz); the DOT text is returned by graph()")
            subprocess.run(["dot", f"-T{fmt}", "-o", str(path)], input=dot.encode(), check=True)
        else:
            with open(path, "w") as f:
                f.write(dot)
    return dot
