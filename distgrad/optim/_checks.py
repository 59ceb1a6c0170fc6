"""The hyperparameter checks the optimizers share, with PyTorch's messages."""


def check_hyperparameters(lr=0.0, eps=0.0, weight_decay=0.0, betas=(), **others):
    """``Invalid ...`` ValueErrors for a negative learning rate, epsilon, weight decay or
    other value (named by its keyword), and for a beta outside [0, 1)."""
    for name, value in (("learning rate", lr), ("epsilon value", eps), ("weight_decay value", weight_decay),
                        *((f"{k} value", v) for k, v in others.items())):
        if value < 0.0:
            raise ValueError(f"Invalid {name}: {value}")
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
