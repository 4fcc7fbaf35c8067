#!/usr/bin/python3
"""Plot of a VAE's reconstruction spectra: the table written by
`daisi-train -train_model vae -train_eval ENC.h5 -train_eval_decoder DEC.h5 ... -train_eval_output F.tsv`
(columns k, then state_l, reconstruction_l, error_l per level l).

usage: plot_vae_spectra.py SPECTRA.tsv -o OUT.png
"""
import argparse
import sys
import warnings

import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("table")
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    try:
        with open(a.table) as f:
            head = f.readline().split()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty table is reported below
            t = np.loadtxt(a.table, skiprows=1, ndmin=2)
    except (OSError, ValueError) as e:
        sys.exit(f"plot_vae_spectra: cannot read {a.table}: {e}")
    if not head or head[0] != "k" or (len(head) - 1) % 3 or t.shape[1] != len(head):
        sys.exit(f"plot_vae_spectra: {a.table} is not a VAE spectra table (k, then state/reconstruction/error per level)")
    nl = (len(head) - 1) // 3
    k = t[1:, 0]
    fig, ax = plt.subplots(1, nl, figsize=(5 * nl, 4), squeeze=False)
    for l in range(nl):
        x = ax[0, l]
        for q, (name, style) in enumerate((("state", "k-"), ("reconstruction", "C0-"), ("error", "C3--"))):
            x.loglog(k, t[1:, 1 + 3 * l + q], style, label=name)
        x.set_title(f"level {l}")
        x.set_xlabel("total wavenumber k")
        x.set_ylabel("mean power (K$^2$)")
        x.legend()
    fig.tight_layout()
    fig.savefig(a.output, dpi=90)
    print(f"plot_vae_spectra: wrote {a.output}")


if __name__ == "__main__":
    main()
