#!/usr/bin/python3
"""Time-averaged scores of daisi-filter diagnostics files, as a Markdown table.

usage: summarize.py DIAG.h5 [...] [--from CYCLE] [--to CYCLE] [--bands K1,K2,...]
Averages rmse_a, spread_a, crps_a, crps_fair_a (and the spread-skill ratio of the averages)
over the cycles FROM..TO inclusive (default: all), one row per file.
--bands adds a second table: the analysis-mean error and the ensemble spread (K^2, mean over
levels) in total-wavenumber bands starting at K1, K2, ... (the last band runs to the end), from
the file's time-mean spectra; their window is the file's statistics window (attribute
stats_start, -filter_stats_start, to the last cycle), not FROM..TO.
"""
import argparse
import os
import sys

import h5py
import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--from", dest="c0", type=int, default=1)
    ap.add_argument("--to", dest="c1", type=int, default=10**9)
    ap.add_argument("--bands", help="first wavenumbers of the spectral bands, e.g. 1,4,8,16")
    a = ap.parse_args()
    starts = []
    if a.bands:
        try:
            starts = [int(k) for k in a.bands.split(",")]
        except ValueError:
            sys.exit(f"summarize: --bands {a.bands}: expected increasing integers such as 1,4,8,16")
        if any(k < 0 for k in starts) or starts != sorted(set(starts)):
            sys.exit(f"summarize: --bands {a.bands}: expected increasing non-negative integers such as 1,4,8,16")
    print(f"| run | filter | cycles | RMSE_a (K) | spread_a (K) | spread/skill | CRPS_a (K) | fair CRPS_a (K) | analysis s/cycle |")
    print("|---|---|---|---|---|---|---|---|---|")
    for p in a.files:
        try:
            f = h5py.File(p, "r")
        except OSError as e:
            sys.exit(f"summarize: cannot read {p}: {e}")
        c = f["cycle"][:]
        sel = (c >= a.c0) & (c <= a.c1)
        if not sel.any():
            sys.exit(f"summarize: {p} has no cycles in {a.c0}..{a.c1}")
        M = float(f.attrs.get("ens_size", 20))
        ft = f.attrs.get("filter_type", b"?")
        ft = ft.decode() if isinstance(ft, bytes) else str(ft)
        rm, sp = f["rmse_a"][sel].mean(), f["spread_a"][sel].mean()
        print(f"| {os.path.basename(p)} | {ft} | {c[sel].min()}-{c[sel].max()} | {rm:.3f} | {sp:.3f} | {np.sqrt((M + 1) / M) * sp / rm:.2f} | "
              f"{f['crps_a'][sel].mean():.3f} | {f['crps_fair_a'][sel].mean():.3f} | {f['seconds_analysis'][sel].mean():.3f} |")
    if starts:
        print_bands(a.files, starts)


def print_bands(files, starts):
    """error and spread spectra of each file summed over the bands [starts[i], starts[i+1])"""
    ends = starts[1:] + [10**9]
    names = [f"k {k0}-{k1 - 1}" if k1 < 10**9 else f"k {k0}-" for k0, k1 in zip(starts, ends)]
    print()
    print("| run | window | " + " | ".join(f"error {n}" for n in names) + " | " + " | ".join(f"spread {n}" for n in names) + " |")
    print("|---|---|" + "---|" * (2 * len(names)))
    for p in files:
        with h5py.File(p, "r") as f:
            if "spectrum_error" not in f:
                sys.exit(f"summarize: {p} has no spectra")
            k = f["wavenumber"][:]
            err, spr = f["spectrum_error"][:].mean(axis=0), f["spectrum_spread"][:].mean(axis=0)
            c0 = int(f.attrs.get("stats_start", 1))  # files written before the attribute: default 1
            c1 = int(f["cycle"][:].max())
        band = [(k >= k0) & (k < k1) for k0, k1 in zip(starts, ends)]
        print(f"| {os.path.basename(p)} | {c0}-{c1} | " + " | ".join(f"{err[b].sum():.3g}" for b in band) + " | "
              + " | ".join(f"{spr[b].sum():.3g}" for b in band) + " |")


if __name__ == "__main__":
    main()
