"""Internals of distgrad-run (distgrad/run.py): host lists, the mpiexec command, supervision."""
