#!/usr/bin/python3
"""Picture of one time of a DAISI state file (theta on both levels), e.g. a nature run.

usage: plot_state.py FILE [-t TIME_INDEX] [-o OUT.png]
"""
import argparse
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("-t", "--time", type=int, default=-1, help="time index (default: last)")
    ap.add_argument("-o", "--output", default=None, help="PNG to write (default: FILE.png)")
    a = ap.parse_args()
    try:
        with h5py.File(a.file, "r") as f:
            if "theta" not in f:
                sys.exit(f"plot_state: {a.file} has no dataset 'theta'")
            th = f["theta"]
            if th.ndim != 4:
                sys.exit(f"plot_state: {a.file}: theta has {th.ndim} dimensions, expected (time, level, y, x)")
            data = th[a.time]
            t = f["time"][a.time] if "time" in f else float("nan")
    except OSError as e:
        sys.exit(f"plot_state: cannot read {a.file}: {e}")
    out = a.output or a.file + ".png"
    nlev = data.shape[0]
    fig, axs = plt.subplots(1, nlev, figsize=(5 * nlev, 4.4), squeeze=False)
    vmax = abs(data).max()
    for k in range(nlev):
        im = axs[0, k].imshow(data[k], origin="lower", cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        axs[0, k].set_title(f"theta, level {k} ({'surface' if k == 0 else 'lid'}), day {t / 86400:.2f}")
        axs[0, k].set_xticks([])
        axs[0, k].set_yticks([])
        fig.colorbar(im, ax=axs[0, k], label="K")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    print(f"plot_state: wrote {out}")


if __name__ == "__main__":
    main()
