"""``torch.onnx``'s place: importing it works, exporting does not (distgrad records no graph
that outlives a backward, so it has nothing to export)."""


def export(model, args=None, f=None, *more, **kwargs):
    raise NotImplementedError(
        "onnx.export: distgrad cannot export ONNX; save the weights with "
        "distgrad.save(model.state_dict(), path), load them into the same architecture written in "
        "PyTorch and export that with torch.onnx.export")


def is_in_onnx_export():
    return False
