#!/usr/bin/env python3
"""Expected values for the optimizer unit tests, from the update rules as PyTorch's
documentation states them (torch.optim.SGD, Adagrad, RMSprop, Adam, AdamW pseudo-code),
written independently of the Rust code. Weight decay applies to weights only (index 0
and 1), not to the bias (index 2), as the Rust optimizers do by default.

Run: python3 network-core/src/optim/reference.py
"""
import math

START = [1.0, -2.0, 0.5]
GRADS = [[0.5, -1.0, 2.0], [0.3, 0.2, -1.5], [-0.4, 0.8, 0.5]]
IS_BIAS = [False, False, True]


def wd_of(i, wd):
    return 0.0 if IS_BIAS[i] else wd


def sgd(lr, momentum=0.0, dampening=0.0, wd=0.0, nesterov=False):
    p, b = START[:], [0.0] * 3
    for t, g in enumerate(GRADS, 1):
        for i in range(3):
            gi = g[i] + wd_of(i, wd) * p[i]
            if momentum != 0.0:
                b[i] = gi if t == 1 else momentum * b[i] + (1 - dampening) * gi
                gi = gi + momentum * b[i] if nesterov else b[i]
            p[i] -= lr * gi
    return p


def adagrad(lr, lr_decay=0.0, wd=0.0, init=0.0, eps=1e-10):
    p, s = START[:], [init] * 3
    for t, g in enumerate(GRADS, 1):
        clr = lr / (1 + (t - 1) * lr_decay)
        for i in range(3):
            gi = g[i] + wd_of(i, wd) * p[i]
            s[i] += gi * gi
            p[i] -= clr * gi / (math.sqrt(s[i]) + eps)
    return p


def rmsprop(lr, alpha=0.99, eps=1e-8, wd=0.0, momentum=0.0, centered=False):
    p, v, ga, b = START[:], [0.0] * 3, [0.0] * 3, [0.0] * 3
    for g in GRADS:
        for i in range(3):
            gi = g[i] + wd_of(i, wd) * p[i]
            v[i] = alpha * v[i] + (1 - alpha) * gi * gi
            vt = v[i]
            if centered:
                ga[i] = alpha * ga[i] + (1 - alpha) * gi
                vt = vt - ga[i] * ga[i]
            if momentum > 0:
                b[i] = momentum * b[i] + gi / (math.sqrt(vt) + eps)
                p[i] -= lr * b[i]
            else:
                p[i] -= lr * gi / (math.sqrt(vt) + eps)
    return p


def adam(lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, amsgrad=False, decoupled=False):
    p, m, v, vmax = START[:], [0.0] * 3, [0.0] * 3, [0.0] * 3
    for t, g in enumerate(GRADS, 1):
        for i in range(3):
            gi = g[i]
            if decoupled:
                p[i] *= 1 - lr * wd_of(i, wd)
            else:
                gi += wd_of(i, wd) * p[i]
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            bc1, bc2 = 1 - b1**t, 1 - b2**t
            if amsgrad:
                vmax[i] = max(vmax[i], v[i])
                denom = math.sqrt(vmax[i]) / math.sqrt(bc2) + eps
            else:
                denom = math.sqrt(v[i]) / math.sqrt(bc2) + eps
            p[i] -= lr / bc1 * m[i] / denom
    return p


CASES = {
    "sgd(lr=0.1)": sgd(0.1),
    "sgd(lr=0.1, weight_decay=0.1)": sgd(0.1, wd=0.1),
    "momentum(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)": sgd(0.1, 0.9, 0.1, 0.01),
    "nesterov(lr=0.1, momentum=0.9)": sgd(0.1, 0.9, nesterov=True),
    "adagrad(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)": adagrad(0.1, 0.01, init=0.1),
    "rmsprop(lr=0.01)": rmsprop(0.01),
    "rmsprop(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1)": rmsprop(0.01, wd=0.1, momentum=0.5, centered=True),
    "adam(lr=0.1)": adam(0.1),
    "adam(lr=0.1, weight_decay=0.1, amsgrad=True)": adam(0.1, wd=0.1, amsgrad=True),
    "adamw(lr=0.1, weight_decay=0.1)": adam(0.1, wd=0.1, decoupled=True),
}

for name, values in CASES.items():
    print(f"{name}: [{', '.join(repr(v) for v in values)}]")
