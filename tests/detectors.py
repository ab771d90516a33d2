"""Comparing a noisybox detector with stock torchvision's on one batch."""

import torch


def assert_same_losses_and_head_gradients(ours, stock, images, targets, loss_tolerance,
                                          gradient_tolerance) -> None:  # fmt: skip
    """Both detectors, in train mode on the same batch, give the same losses (same names)
    and the same gradients of their heads' parameters, within ``(rtol, atol)`` tolerances."""
    results = []
    for detector in (ours, stock):
        detector.train()
        detector.zero_grad()
        losses = detector(images, targets)
        sum(losses.values()).backward()
        grads = [p.grad.float().clone() for p in detector.head.parameters()]
        results.append(({k: v.detach() for k, v in losses.items()}, grads))
    (our_losses, our_grads), (stock_losses, stock_grads) = results
    assert our_losses.keys() == stock_losses.keys()
    rtol, atol = loss_tolerance
    for key in our_losses:
        torch.testing.assert_close(our_losses[key], stock_losses[key], rtol=rtol, atol=atol)
    rtol, atol = gradient_tolerance
    for mine, theirs in zip(our_grads, stock_grads, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=rtol, atol=atol)
