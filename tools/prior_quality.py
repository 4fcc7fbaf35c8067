#!/usr/bin/python3
"""Quality report of a generative prior: its samples against held-out truth states.

usage: prior_quality.py SAMPLES.h5 TRUTH.h5 [--loss LOSS.tsv] [--curve CURVE.tsv] [-o OUTDIR]
                        [--max-truth N]
       prior_quality.py --roundtrip ROUNDTRIPS.h5 STATES.h5 [--first I] [--stride S] [-o OUTDIR]

SAMPLES.h5: daisi-sample output (theta(time, level, y, x), K); TRUTH.h5: held-out states
(state or ensemble file, e.g. data/sqg64/test.h5). Writes to OUTDIR (default .):
  quality_spectra.png     power spectra by total wavenumber, per level, samples vs truth
  quality_histograms.png  pointwise histograms of theta, per level
  quality_loss.png        denoising loss by t (from daisi-train -train_eval_output) and the
                          training curve (from daisi-train's curve file), if given
  quality.md              the numbers: std per level, spectral ratios by band, histogram
                          distance, loss table
With --roundtrip, SAMPLES.h5 holds round trips (daisi-sample -sample_roundtrip STATES.h5); round
trip k is of state I + k S (the driver's -sample_first and -sample_stride, an ensemble file's
states counted time-major; their time values must agree), and the report is what the prior
keeps of a state through t_min: roundtrip_spectra.png and roundtrip.md (RMSE per level, error
power over the states' power and round-trip power over the states' power by band of total
wavenumber; with several round trips of one state, also the error of their mean).
"""
import argparse
import os
import sys

import h5py
import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load_states(path, pick):
    """times (None without a time dataset) and the states pick(n) of the n states of a state or
    ensemble file, as (len, level, y, x); an ensemble file's states are counted time-major"""
    try:
        with h5py.File(path, "r") as f:
            if "theta" not in f:
                sys.exit(f"prior_quality: {path} has no dataset 'theta'")
            th = f["theta"]
            if th.ndim not in (4, 5):
                sys.exit(f"prior_quality: {path}: theta has {th.ndim} dimensions, expected 4 or 5")
            nm = th.shape[1] if th.ndim == 5 else 1
            idx = pick(th.shape[0] * nm)
            data = np.stack([th[i // nm, i % nm] if th.ndim == 5 else th[i] for i in idx])
            times = f["time"][:][idx // nm] if "time" in f else None
    except OSError as e:
        sys.exit(f"prior_quality: cannot read {path}: {e}")
    if not np.all(np.isfinite(data)):
        sys.exit(f"prior_quality: {path} holds non-finite values")
    return times, data


def evenly(max_states):
    """pick for load_states: at most max_states states, evenly spaced"""
    return lambda n: np.linspace(0, n - 1, min(max_states, n)).astype(int)


def plot_spectra(path, kk, curves):
    """power spectra per level (one panel each): curves = [(spectrum (level, k), style, label)]"""
    nl = curves[0][0].shape[0]
    fig, ax = plt.subplots(1, nl, figsize=(5 * nl, 4), squeeze=False)
    for lev in range(nl):
        for spec, style, label in curves:
            ax[0, lev].loglog(kk[1:], spec[lev, 1:], style, label=label)
        ax[0, lev].set_xlabel("total wavenumber")
        ax[0, lev].set_ylabel("power (K$^2$)")
        ax[0, lev].set_title(f"level {lev}")
        ax[0, lev].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def spectrum(x):
    """mean power by total wavenumber (integer shells), per level: (level, kmax + 1)"""
    n, nl, ny, nx = x.shape
    ky = np.fft.fftfreq(ny) * ny
    kx = np.fft.rfftfreq(nx) * nx
    k = np.rint(np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)).astype(int)
    w = np.ones_like(k, dtype=float)
    w[:, 1:] = 2.0  # the half plane stands for both halves
    if nx % 2 == 0:
        w[:, -1] = 1.0
    kmax = min(ny, nx) // 2
    out = np.zeros((nl, kmax + 1))
    for lev in range(nl):
        p = np.abs(np.fft.rfft2(x[:, lev])) ** 2 / (ny * nx) ** 2
        pm = (p * w).mean(axis=0)
        for kk in range(kmax + 1):
            out[lev, kk] = pm[k == kk].sum()
    return out


BANDS = [(1, 3), (4, 7), (8, 15), (16, 32)]


def roundtrip_report(a):
    """round trips against their input states: round trip k is of state first + k stride"""
    tr, r = load_states(a.samples, np.arange)

    def pick(n):
        idx = a.first + a.stride * np.arange(len(r))
        if a.first < 0 or a.stride < 0 or idx[-1] >= n:
            sys.exit(f"prior_quality: {len(r)} round trips from state {a.first} with stride {a.stride} need "
                     f"{idx[-1] + 1} states; {a.truth} holds {n}")
        return idx
    ts, x = load_states(a.truth, pick)
    if tr is None or ts is None:
        sys.exit(f"prior_quality: {a.samples if tr is None else a.truth} has no dataset 'time' to pair the states by")
    if r.shape[1:] != x.shape[1:]:
        sys.exit(f"prior_quality: round trips {r.shape[1:]} and states {x.shape[1:]} differ in shape")
    bad = np.nonzero(ts != tr)[0]
    if len(bad):
        sys.exit(f"prior_quality: round trip {bad[0]} has time {tr[bad[0]]:g} but state {a.first + a.stride * bad[0]} "
                 f"of {a.truth} has {ts[bad[0]]:g}: wrong file, --first or --stride")
    os.makedirs(a.outdir, exist_ok=True)
    se, sx, sr = spectrum(r - x), spectrum(x), spectrum(r)
    nl, kk = x.shape[1], np.arange(se.shape[1])
    bands = [(b0, min(b1, kk[-1])) for b0, b1 in BANDS if b0 <= kk[-1]]
    plot_spectra(os.path.join(a.outdir, "roundtrip_spectra.png"), kk,
                 [(sx, "k-", "states"), (sr, "b--", "round trips"), (se, "r-", "round-trip error")])

    def table(title, spec, rmse):
        """per level: the RMSE (or -) and spec's power over the states' power by band"""
        rows = ["", title, "", "| level | RMSE (K) | " + " | ".join(f"k {b0}-{b1}" for b0, b1 in bands) + " |",
                "|---" * (len(bands) + 2) + "|"]
        for lev in range(nl):
            q = [spec[lev, b0:b1 + 1].sum() / sx[lev, b0:b1 + 1].sum() for b0, b1 in bands]
            rows.append(f"| {lev} | {rmse[lev]} | " + " | ".join(f"{v:.3f}" for v in q) + " |")
        return rows
    rmse = lambda d: [f"{np.sqrt(np.mean(d[:, lev] ** 2)):.3f}" for lev in range(nl)]
    lines = ["# Prior round trips", "", f"Round trips: `{a.samples}` ({len(r)}); input states: `{a.truth}`."]
    lines += table("Error power over the states' power by band of total wavenumber (0: kept exactly, 2: as far "
                   "off as an independent draw):", se, rmse(r - x))
    # with a stride of 0 every round trip is of the same state: the error of their mean is the part
    # the noise does not average out (what an ensemble mean keeps)
    if a.stride == 0 and len(r) > 1:
        m = r.mean(axis=0, keepdims=True) - x[:1]
        lines += table(f"Error power of the mean of the {len(r)} round trips of the one state, over the states' power "
                       "(the systematic part, which averaging over members does not remove):", spectrum(m), rmse(m))
    lines += table("Round-trip power over the states' power by band:", sr, ["-"] * nl)
    with open(os.path.join(a.outdir, "roundtrip.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def read_tsv(path):
    with open(path) as f:
        head = f.readline().split()
    return head, np.loadtxt(path, skiprows=1, ndmin=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("samples")
    ap.add_argument("truth")
    ap.add_argument("--loss", help="daisi-train -train_eval_output table")
    ap.add_argument("--curve", help="daisi-train curve file")
    ap.add_argument("-o", "--outdir", default=".")
    ap.add_argument("--max-truth", type=int, default=1000, help="truth states used (evenly spaced)")
    ap.add_argument("--roundtrip", action="store_true",
                    help="SAMPLES are round trips of the states in TRUTH (daisi-sample -sample_roundtrip)")
    ap.add_argument("--first", type=int, default=0, help="round trips: -sample_first of the run")
    ap.add_argument("--stride", type=int, default=1, help="round trips: -sample_stride of the run")
    a = ap.parse_args()
    if a.roundtrip:
        roundtrip_report(a)
        return
    s = load_states(a.samples, np.arange)[1]
    t = load_states(a.truth, evenly(a.max_truth))[1]
    if s.shape[1:] != t.shape[1:]:
        sys.exit(f"prior_quality: samples {s.shape[1:]} and truth {t.shape[1:]} differ in shape")
    os.makedirs(a.outdir, exist_ok=True)
    nl = s.shape[1]
    ss, st = spectrum(s), spectrum(t)
    kk = np.arange(ss.shape[1])

    plot_spectra(os.path.join(a.outdir, "quality_spectra.png"), kk,
                 [(st, "k-", f"held-out truth ({len(t)})"), (ss, "r--", f"prior samples ({len(s)})")])

    lo, hi = np.percentile(t, 0.1), np.percentile(t, 99.9)
    bins = np.linspace(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo), 81)
    fig, ax = plt.subplots(1, nl, figsize=(5 * nl, 4), squeeze=False)
    hdist = []
    for lev in range(nl):
        ht, _ = np.histogram(t[:, lev].ravel(), bins=bins, density=True)
        hs, _ = np.histogram(s[:, lev].ravel(), bins=bins, density=True)
        dx = bins[1] - bins[0]
        hdist.append(0.5 * np.abs(ht - hs).sum() * dx)  # total variation distance
        c = 0.5 * (bins[1:] + bins[:-1])
        ax[0, lev].semilogy(c, np.maximum(ht, 1e-6), "k-", label="held-out truth")
        ax[0, lev].semilogy(c, np.maximum(hs, 1e-6), "r--", label="prior samples")
        ax[0, lev].set_xlabel("theta (K)")
        ax[0, lev].set_title(f"level {lev}: TV distance {hdist[-1]:.3f}")
        ax[0, lev].legend()
    fig.tight_layout()
    fig.savefig(os.path.join(a.outdir, "quality_histograms.png"), dpi=110)

    lines = ["# Prior quality report", "",
             f"Samples: `{a.samples}` ({len(s)}); held-out truth: `{a.truth}` ({len(t)} states).", "",
             "| level | std truth (K) | std samples (K) | mean truth | mean samples | histogram TV distance |",
             "|---|---|---|---|---|---|"]
    for lev in range(nl):
        lines.append(f"| {lev} | {t[:, lev].std():.3f} | {s[:, lev].std():.3f} | {t[:, lev].mean():.3f} | "
                     f"{s[:, lev].mean():.3f} | {hdist[lev]:.3f} |")
    bands = [(1, 2), (3, 5), (6, 10), (11, 20), (21, kk[-1])]
    lines += ["", "Power of the samples over the truth's, by band of total wavenumber:", "",
              "| level | " + " | ".join(f"k {b0}-{b1}" for b0, b1 in bands) + " |",
              "|---" * (len(bands) + 1) + "|"]
    for lev in range(nl):
        r = [ss[lev, b0:b1 + 1].sum() / st[lev, b0:b1 + 1].sum() for b0, b1 in bands]
        lines.append(f"| {lev} | " + " | ".join(f"{x:.2f}" for x in r) + " |")

    if a.loss or a.curve:
        fig, ax = plt.subplots(1, 2, figsize=(10, 4))
        if a.loss:
            head, L = read_tsv(a.loss)
            tm = 0.5 * (L[:, 0] + L[:, 1])
            ax[0].plot(tm, L[:, 3], "ro-", label="network")
            ax[0].plot(tm, L[:, 4], "k:", label="b = 0")
            ax[0].set_xlabel("t")
            ax[0].set_ylabel("denoising loss (test split)")
            ax[0].legend()
            lines += ["", "Denoising loss on the test split by t (mean per grid value; b = 0 for reference):", "",
                      "| t | loss | loss b=0 | ratio |", "|---|---|---|---|"]
            for row in L:
                lines.append(f"| {row[0]:.1f}-{row[1]:.1f} | {row[3]:.4f} | {row[4]:.4f} | {row[3] / row[4]:.3f} |")
        if a.curve:
            head, C = read_tsv(a.curve)
            ax[1].plot(C[:, 1], C[:, 2], "b-", label="train")
            ax[1].plot(C[:, 1], C[:, 3], "r-", label="validation (EMA)")
            ax[1].plot(C[:, 1], C[:, 4], "r:", label="validation (raw)")
            ax[1].set_xlabel("step")
            ax[1].set_ylabel("loss")
            ax[1].legend()
        fig.tight_layout()
        fig.savefig(os.path.join(a.outdir, "quality_loss.png"), dpi=110)
    with open(os.path.join(a.outdir, "quality.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
