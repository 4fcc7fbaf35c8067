#!/usr/bin/python3
"""Plots of daisi-filter diagnostics files: score time series (one line per file), maps of
truth / analysis mean / error at one cycle, the rank histogram, and the spectra of the truth and
of the analysis-mean error by total wavenumber (against the truth file).

usage: plot_filter.py DIAG.h5 [DIAG2.h5 ...] [-t TRUTH.h5] [-c CYCLE] [-o OUTDIR]
Writes OUTDIR/scores.png, rank_histogram.png, and with -t also maps.png and spectra.png.
"""
import argparse
import os
import sys

import h5py
import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load(path):
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        sys.exit(f"plot_filter: cannot read {path}: {e}")
    for name in ("cycle", "rmse_a", "spread_a", "crps_a"):
        if name not in f:
            sys.exit(f"plot_filter: {path} has no dataset '{name}': not a daisi-filter diagnostics file")
    return f


def label(f, path):
    ft = f.attrs.get("filter_type", b"?")
    ft = ft.decode() if isinstance(ft, bytes) else str(ft)
    return f"{ft} ({os.path.basename(path)})"


def iso_spectrum(field):
    """power by integer total wavenumber of a (level, y, x) field, mean over levels"""
    nlev, ny, nx = field.shape
    fh = np.fft.rfft2(field, axes=(1, 2)) / (nx * ny)
    p = np.abs(fh) ** 2
    p[:, :, 1:(nx + 1) // 2] *= 2  # both halves of the real spectrum
    ky = np.fft.fftfreq(ny) * ny
    kx = np.fft.rfftfreq(nx) * nx
    k = np.rint(np.sqrt(kx[None, :] ** 2 + ky[:, None] ** 2)).astype(int)
    nk = k.max() + 1
    return np.array([np.bincount(k.ravel(), weights=p[l].ravel(), minlength=nk) for l in range(nlev)]).mean(axis=0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("-t", "--truth", help="the truth file, for maps and spectra")
    ap.add_argument("-c", "--cycle", type=int, default=-1, help="cycle index for maps/spectra (default last)")
    ap.add_argument("-o", "--outdir", default=".")
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    runs = [(p, load(p)) for p in a.files]

    fig, axs = plt.subplots(1, 3, figsize=(15, 4))
    for p, f in runs:
        c = f["cycle"][:]
        lab = label(f, p)
        line, = axs[0].plot(c, f["rmse_a"][:], label=lab)
        axs[0].plot(c, f["spread_a"][:], "--", color=line.get_color())
        axs[1].plot(c, f["crps_a"][:], label=lab)
        M = float(f.attrs.get("ens_size", 20))
        axs[2].plot(c, np.sqrt((M + 1) / M) * f["spread_a"][:] / f["rmse_a"][:], label=lab)
    axs[0].set_title("analysis RMSE (solid) and spread (dashed), K")
    axs[1].set_title("analysis CRPS, K")
    axs[2].set_title("spread / RMSE")
    for ax in axs:
        ax.set_xlabel("cycle")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(a.outdir, "scores.png"), dpi=90)

    fig, axs = plt.subplots(1, len(runs), figsize=(5 * len(runs), 3.5), squeeze=False)
    for i, (p, f) in enumerate(runs):
        h = f["rank_histogram"][:] if "rank_histogram" in f else None
        if h is not None and h.sum() > 0:
            axs[0, i].bar(np.arange(h.size), h / h.sum())
            axs[0, i].axhline(1.0 / h.size, color="k", lw=0.8)
        axs[0, i].set_title("rank histogram: " + label(f, p), fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(a.outdir, "rank_histogram.png"), dpi=90)

    if a.truth:
        with h5py.File(a.truth, "r") as t:
            theta = t["theta"]
            p, f = runs[0]
            cyc = int(f["cycle"][a.cycle])
            truth = theta[cyc]
            mean = f["ens_mean_a"][a.cycle]
            fig, axs = plt.subplots(2, 3, figsize=(14, 8))
            for lev in range(min(2, truth.shape[0])):
                vmax = np.abs(truth[lev]).max()
                for j, (fld, name) in enumerate(((truth[lev], "truth"), (mean[lev], "analysis mean"), (mean[lev] - truth[lev], "error"))):
                    im = axs[lev, j].imshow(fld, origin="lower", cmap="RdBu_r", vmin=-vmax if j < 2 else -vmax / 4, vmax=vmax if j < 2 else vmax / 4)
                    axs[lev, j].set_title(f"{name}, level {lev}, cycle {cyc}")
                    fig.colorbar(im, ax=axs[lev, j])
            fig.tight_layout()
            fig.savefig(os.path.join(a.outdir, "maps.png"), dpi=80)
            fig, ax = plt.subplots(figsize=(6, 4.5))
            ax.loglog(iso_spectrum(truth)[1:], "k", label="truth")
            for p, f in runs:
                cyc = int(f["cycle"][a.cycle])
                err = iso_spectrum(f["ens_mean_a"][a.cycle] - theta[cyc])
                ax.loglog(err[1:], label="error " + label(f, p))
            ax.set_xlabel("total wavenumber")
            ax.set_ylabel("power (K^2)")
            ax.set_title("truth and analysis-error spectra")
            ax.legend(fontsize=7)
            fig.tight_layout()
            fig.savefig(os.path.join(a.outdir, "spectra.png"), dpi=90)
    print(f"plot_filter: wrote plots to {a.outdir}")


if __name__ == "__main__":
    main()
