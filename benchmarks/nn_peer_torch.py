#!/usr/bin/python3
"""Peer benchmark: the DaisiNet SQG-64 U-Net written in PyTorch (CPU), timed like
benchmarks/nn_bench.c so the two can be compared on the same machine.

    /usr/bin/python3 benchmarks/nn_peer_torch.py [--threads 2] [--batch 1 8 20] [--time 2]

Architecture (as DaisiNet's unet with the default options): Fourier time features
(sin, cos of 2 pi f_k t, f_k geometric from 1 to 16) -> Linear -> SiLU -> Linear -> SiLU
gives the embedding; conv3x3 in; per level: residual blocks (GN, SiLU, conv3x3, GN,
FiLM scale/shift from the embedding, SiLU, conv3x3, 1x1 skip if the width changes),
average pooling down; nearest up-sampling, concatenation with the skip, residual blocks;
GN, SiLU, conv3x3 out. All convolutions are periodic (circular padding).
GFLOP/s counts the same multiply-adds as nn_bench (conv and linear weights)."""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class FiLMResBlock(nn.Module):
    def __init__(self, cin, cout, emb, groups):
        super().__init__()
        self.gn1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, padding_mode="circular")
        self.gn2 = nn.GroupNorm(groups, cout)
        self.film = nn.Linear(emb, 2 * cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, padding_mode="circular")
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, e):
        h = self.conv1(F.silu(self.gn1(x)))
        s, m = self.film(e).chunk(2, dim=1)
        h = self.gn2(h) * (1 + s[:, :, None, None]) + m[:, :, None, None]
        h = self.conv2(F.silu(h))
        return (x if self.skip is None else self.skip(x)) + h


class PeriodicUNet(nn.Module):
    def __init__(self, channels=2, base=32, mult=(1, 2, 2), blocks=1, groups=8, tfeat=16, tdim=128, fmax=16.0):
        super().__init__()
        k = tfeat // 2
        self.register_buffer("freq", torch.tensor([fmax ** (i / (k - 1)) if k > 1 else 1.0 for i in range(k)]))
        self.t1 = nn.Linear(tfeat, tdim)
        self.t2 = nn.Linear(tdim, tdim)
        widths = [base * m for m in mult]
        self.conv_in = nn.Conv2d(channels, widths[0], 3, padding=1, padding_mode="circular")
        self.enc = nn.ModuleList()
        c = widths[0]
        for w in widths:
            level = nn.ModuleList()
            for _ in range(blocks):
                level.append(FiLMResBlock(c, w, tdim, groups))
                c = w
            self.enc.append(level)
        self.dec = nn.ModuleList()
        for l in range(len(widths) - 2, -1, -1):
            level = nn.ModuleList()
            c = c + widths[l]
            for _ in range(blocks):
                level.append(FiLMResBlock(c, widths[l], tdim, groups))
                c = widths[l]
            self.dec.append(level)
        self.gn_out = nn.GroupNorm(groups, c)
        self.conv_out = nn.Conv2d(c, channels, 3, padding=1, padding_mode="circular")

    def forward(self, x, t):
        a = 2 * math.pi * t[:, None] * self.freq[None, :]
        e = F.silu(self.t2(F.silu(self.t1(torch.cat([torch.sin(a), torch.cos(a)], dim=1)))))
        h = self.conv_in(x)
        skips = []
        for l, level in enumerate(self.enc):
            if l > 0:
                h = F.avg_pool2d(h, 2)
            for blk in level:
                h = blk(h, e)
            skips.append(h)
        for i, level in enumerate(self.dec):
            l = len(self.enc) - 2 - i
            h = torch.cat([F.interpolate(h, scale_factor=2, mode="nearest"), skips[l]], dim=1)
            for blk in level:
                h = blk(h, e)
        return self.conv_out(F.silu(self.gn_out(h)))


def weight_flops(model, ny, nx):
    """multiply-adds (x2) of the conv and linear weights for one sample"""
    flops = 0.0
    hooks = []

    def conv_hook(mod, inp, out):
        nonlocal flops
        flops += 2.0 * mod.weight.numel() * out.shape[2] * out.shape[3]

    def lin_hook(mod, inp, out):
        nonlocal flops
        flops += 2.0 * mod.weight.numel()

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(lin_hook))
    with torch.no_grad():
        model(torch.zeros(1, 2, ny, nx), torch.zeros(1))
    for h in hooks:
        h.remove()
    return flops


def timed(fn, seconds):
    fn()
    reps, t0 = 0, time.perf_counter()
    while True:
        fn()
        reps += 1
        t1 = time.perf_counter()
        if t1 - t0 >= seconds:
            return reps / (t1 - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8, 20])
    ap.add_argument("--time", type=float, default=2.0)
    ap.add_argument("--ny", type=int, default=64)
    ap.add_argument("--nx", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = PeriodicUNet().float()
    nparam = sum(p.numel() for p in model.parameters())
    flops = weight_flops(model, args.ny, args.nx)
    print(f"PyTorch {torch.__version__} CPU, {torch.get_num_threads()} thread(s), mkldnn {torch.backends.mkldnn.is_available()}")
    print(f"PeriodicUNet: {nparam} parameters, {flops * 1e-9:.3f} GFLOP per sample forward")
    print(f"{'batch':<6} {'pass':<22} {'samples/s':>12} {'GFLOP/s':>10}")
    for B in args.batch:
        x = torch.randn(B, 2, args.ny, args.nx)
        w = torch.randn(B, 2, args.ny, args.nx)
        t = (torch.arange(B) + 0.5) / B

        def fwd():
            with torch.no_grad():
                model(x, t)

        def vjp_input():
            for p in model.parameters():
                p.requires_grad_(False)
            xx = x.clone().requires_grad_(True)
            y = model(xx, t)
            (gx,) = torch.autograd.grad(y, xx, w)
            for p in model.parameters():
                p.requires_grad_(True)

        def vjp_params():
            xx = x.clone().requires_grad_(True)
            y = model(xx, t)
            model.zero_grad(set_to_none=False)
            y.backward(w)

        def jvp():
            import torch.autograd.forward_ad as fwAD
            with torch.no_grad(), fwAD.dual_level():
                y = model(fwAD.make_dual(x, w), t)
                fwAD.unpack_dual(y).tangent

        for name, fn, mult in (("forward", fwd, 1), ("forward+VJP", vjp_input, 2), ("forward+VJP+params", vjp_params, 3), ("forward+JVP", jvp, 2)):
            try:
                rate = timed(fn, args.time) * B
                print(f"{B:<6} {name:<22} {rate:12.1f} {rate * flops * mult * 1e-9:10.1f}", flush=True)
            except RuntimeError as err:
                print(f"{B:<6} {name:<22} {'n/a':>12} ({str(err).splitlines()[0][:60]})", flush=True)


if __name__ == "__main__":
    main()
