"""Module backward hooks (register_full_backward_hook / register_full_backward_pre_hook), as
PyTorch runs them: ``pre_hook(module, grad_output)`` once the gradients of the module's
outputs are known, then ``hook(module, grad_input, grad_output)`` once those of its tensor
arguments are. Each may return replacements.

The module's tensor arguments and outputs are passed through identity views (``t[...]``),
new graph nodes whose tensor hooks see exactly the gradients that cross the module's border.
"""
from ..function import is_grad_enabled
from ..tensor import Tensor


def _identity(tensor, on_grad):
    view = tensor[...]
    view.register_hook(on_grad)
    return view


class BackwardHooks:
    """The state of one module call: which border gradients have arrived."""

    def __init__(self, module):
        self.module = module
        self.grad_inputs, self.inputs_expected, self.inputs_seen = [], 0, 0
        self.grad_outputs, self.outputs_expected, self.outputs_seen = [], 0, 0

    def setup_inputs(self, args):
        """``args`` with every tensor that requires grad replaced by an identity view. The
        hooks get one gradient per argument, as PyTorch's: None for what is no tensor, zeros
        for a tensor that takes no gradient (when another one does)."""
        args = list(args)
        self.grad_inputs = [None] * len(args)
        self.constants = [i for i, arg in enumerate(args) if isinstance(arg, Tensor) and not arg.requires_grad]
        for i, arg in enumerate(args):
            if isinstance(arg, Tensor) and arg.requires_grad and is_grad_enabled():
                args[i] = _identity(arg, lambda grad, k=i: self._on_input(k, grad))
                self.inputs_expected += 1
        if self.inputs_expected:
            for i in self.constants:
                self.grad_inputs[i] = args[i].detach() * 0
        return tuple(args)

    def setup_outputs(self, output):
        """``output`` (a tensor or a tuple or list of them) with identity views in place of
        the tensors that require grad; nothing to hook when none does."""
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        wrapped = []
        for arg in outputs:
            if isinstance(arg, Tensor) and arg.requires_grad:
                arg = _identity(arg, lambda grad, k=len(self.grad_outputs): self._on_output(k, grad))
                self.outputs_expected += 1
            if isinstance(arg, Tensor):
                self.grad_outputs.append(None)
            wrapped.append(arg)
        if not isinstance(output, (tuple, list)):
            return wrapped[0]
        return type(output)(wrapped) if type(output) in (tuple, list) else type(output)(*wrapped)

    def _on_output(self, k, grad):
        self.grad_outputs[k] = grad
        self.outputs_seen += 1
        if self.outputs_seen < self.outputs_expected:
            return None
        for hook in self.module._backward_pre_hooks:
            result = hook(self.module, tuple(self.grad_outputs))
            if result is not None:
                self.grad_outputs = self._replacements("backward pre-hook", result, self.grad_outputs, k)
        if not self.inputs_expected:  # no gradient flows to the arguments: the hooks run now
            self._run_hooks()
        return self.grad_outputs[k]

    def _on_input(self, k, grad):
        self.grad_inputs[k] = grad
        self.inputs_seen += 1
        if self.inputs_seen < self.inputs_expected:
            return None
        return self._run_hooks()[k]

    def _run_hooks(self):
        grad_inputs = self.grad_inputs
        for hook in self.module._backward_hooks:
            result = hook(self.module, tuple(grad_inputs), tuple(self.grad_outputs))
            if result is not None:
                grad_inputs = self._replacements("backward hook", result, grad_inputs, None)
        return grad_inputs

    def _replacements(self, what, result, current, arriving):
        """A hook's returned gradients, checked; only the one that arrives last (or, for the
        hooks on the arguments, any when just one argument takes a gradient) can still change."""
        result = list(result) if isinstance(result, (tuple, list)) else [result]
        if len(result) != len(current):
            raise RuntimeError(f"{type(self.module).__name__}: {what} returned {len(result)} gradients, "
                               f"expected {len(current)}")
        changed = [i for i, (new, old) in enumerate(zip(result, current)) if new is not old]
        expected = self.inputs_expected if arriving is None else self.outputs_expected
        if expected > 1 and any(i != arriving for i in changed):
            raise NotImplementedError(f"{type(self.module).__name__}: a {what} can replace gradients only for "
                                      "a module with one differentiable argument and one output; change the "
                                      "gradients with Tensor.register_hook on the tensors instead")
        return result
