"""Utilities laid out as torch.utils. ``distgrad.utils.data`` is loaded by distgrad's own
__init__ (as torch loads torch.utils.data), not here: the tools in this package sit at
different layers (logging under everything, checkpoint and metrics over the process world),
so importing one must not import the others."""
