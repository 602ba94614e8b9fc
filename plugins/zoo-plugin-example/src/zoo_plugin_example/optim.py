"""Sign SGD with momentum ("signum", Bernstein et al., 2018)."""

import torch


class SignSGD(torch.optim.Optimizer):
    """Sign SGD with momentum: step each weight by lr times the sign of its momentum."""

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0):
        if lr <= 0:
            raise ValueError(f"lr must be > 0, not {lr}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), not {momentum}")
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = (
                    param.grad.add(param, alpha=group["weight_decay"])
                    if group["weight_decay"]
                    else param.grad
                )
                state = self.state[param]
                buffer = state.setdefault("momentum_buffer", torch.zeros_like(param))
                buffer.mul_(group["momentum"]).add_(grad, alpha=1 - group["momentum"])
                param.add_(buffer.sign(), alpha=-group["lr"])
        return loss
