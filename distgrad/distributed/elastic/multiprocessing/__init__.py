"""``torch.distributed.elastic.multiprocessing``'s spelling, for the ``errors.record`` that
torchrun scripts put on their entry point."""
