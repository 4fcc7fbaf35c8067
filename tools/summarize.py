#!/usr/bin/python3
"""Time-averaged scores of daisi-filter diagnostics files, as a Markdown table.

usage: summarize.py DIAG.h5 [...] [--from CYCLE] [--to CYCLE]
Averages rmse_a, spread_a, crps_a, crps_fair_a (and the spread-skill ratio of the averages)
over the cycles FROM..TO inclusive (default: all), one row per file.
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
    a = ap.parse_args()
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


if __name__ == "__main__":
    main()
