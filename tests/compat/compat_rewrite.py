"""The one change porting makes: a PyTorch program's import lines, rewritten to distgrad's.

    import torch                      ->  import distgrad as torch
    import torch.nn as nn             ->  import distgrad.nn as nn
    import torch.nn.functional        ->  import distgrad.nn.functional
    from torch import nn, optim       ->  from distgrad import nn, optim
    from torch.utils.data import X    ->  from distgrad.utils.data import X

Nothing else in the program changes.
"""
import re

_IMPORT_TORCH = re.compile(r"^(\s*)import torch(\s*(#.*)?)$")
_IMPORT_SUBMODULE = re.compile(r"^(\s*)import torch\.")
_FROM_TORCH = re.compile(r"^(\s*)from torch(\.| )")


def to_distgrad(source):
    lines = []
    for line in source.splitlines(keepends=True):
        body = line.rstrip("\n")
        ending = line[len(body):]
        if _IMPORT_TORCH.match(body):
            body = _IMPORT_TORCH.sub(r"\1import distgrad as torch\2", body)
        elif _IMPORT_SUBMODULE.match(body):
            body = _IMPORT_SUBMODULE.sub(r"\1import distgrad.", body)
        elif _FROM_TORCH.match(body):
            body = _FROM_TORCH.sub(r"\1from distgrad\2", body)
        lines.append(body + ending)
    return "".join(lines)
