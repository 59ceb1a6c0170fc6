"""``torch.backends.cudnn``: ``cudnn.benchmark = True`` and the like are accepted and kept;
distgrad uses no cuDNN, so they change nothing and ``is_available()`` is False."""
enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available():
    return False


def version():
    return None
