"""The engine's public view of the backward running now: current_backward, on_backward_end."""
import pytest

import distgrad as dg
from distgrad.autograd import engine


def test_current_backward_names_the_pass_and_end_callbacks_run_after_it():
    w = dg.ones(3, requires_grad=True)
    v = dg.ones(3, requires_grad=True)
    seen, events = [], []

    def hook(tensor):
        seen.append(engine.current_backward())
        if len(seen) % 2:  # once per pass (two leaves each)
            engine.on_backward_end(lambda: events.append(("end", w.grad is not None and v.grad is not None)))

    w.register_post_accumulate_grad_hook(hook)
    v.register_post_accumulate_grad_hook(hook)
    assert engine.current_backward() is None
    (w * v).sum().backward()
    (w + v).sum().backward()
    assert seen[0] is seen[1] and seen[2] is seen[3] and seen[0] is not seen[2]
    assert events == [("end", True), ("end", True)]
    assert engine.current_backward() is None


def test_on_backward_end_outside_backward_raises():
    assert engine.queue_callback is engine.on_backward_end
    with pytest.raises(RuntimeError, match="only be called while a backward is running"):
        engine.on_backward_end(lambda: None)
