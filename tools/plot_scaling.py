#!/usr/bin/python3
"""Strong and weak scaling plots from the CSV of benchmarks/scaling.py (scaling.sh).

usage: plot_scaling.py SCALING.csv [-o OUTDIR] [--n 64] [--members 20] [--daisi-members 8] [--table]

Writes OUTDIR/
  scaling_nature.png  model step time vs ranks, one line per N (strong scaling), and the share
                      of the FFTs and of the FFT transposes
  scaling_letkf.png   LETKF cycle phases vs ranks at N, M (strong: G = 1 and G = R) and weak
                      scaling in members (M = 10 R, G = R)
  scaling_daisi.png   DAISI cycle phases per (R, G) layout at N = 64
  scaling_size.png    cost vs ensemble size M and vs N on one rank
Hollow markers: oversubscribed runs (more ranks than cores), which show correctness, not speed.
--table prints the per-cycle phase times as Markdown tables; --model prints the compute rates
fitted from the CSV and the projection to large machines of docs/scaling.md.
"""
import argparse
import csv
import os
import sys
from collections import defaultdict


def load(path):
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            for k in ("ranks", "groups", "members", "n", "cycles", "steps", "count", "oversubscribed"):
                r[k] = int(r[k])
            for k in ("time_max_s", "time_mean_s", "time_min_s", "wall_s"):
                r[k] = float(r[k])
            rows.append(r)
    if not rows:
        sys.exit(f"plot_scaling: {path} has no rows")
    return rows


def index(rows):
    """(suite, R, G, M, N) -> {event: row}; the last run of a configuration wins"""
    idx = defaultdict(dict)
    for r in rows:
        idx[(r["suite"], r["ranks"], r["groups"], r["members"], r["n"])][r["event"]] = r
    return idx


def per(ev, name, unit):
    r = ev.get(name)
    return r["time_max_s"] / unit if r else float("nan")


LETKF_PHASES = [("forecast", "EnsForecast"), ("ensemble transpose", "EnsTranspose"), ("local analyses", "FilterLocal"),
                ("analysis (all)", "FilterAnalysis"), ("run total", "summary")]
DAISI_PHASES = [("forecast", "EnsForecast"), ("inversion SDE", "DaisiInversion"), ("guided SDE", "DaisiGuidedSteps"),
                ("guidance", "DaisiGuidance"), ("MMPS solve", "DaisiMMPSSolve"), ("net forward", "DaisiNetForward"),
                ("net VJP", "DaisiNetVJP"), ("net JVP", "DaisiNetJVP"), ("conv3x3", "NNConv3x3"), ("group norm", "NNGroupNorm"),
                ("halo row gather", "NNRowGather"), ("ensemble transpose", "EnsTranspose")]


def tables(idx, a):
    out = []
    keys = sorted(k for k in idx if k[0] == "nature")
    if keys:
        out += ["### daisi-nature: ms per model step (max over ranks)", "",
                "| N | members | ranks | step | FFTs | FFT transposes | HDF5 output (s, total) | load | oversubscribed |", "|---|---|---|---|---|---|---|---|---|"]
        for k in sorted(keys, key=lambda k: (k[3], k[4], k[1])):
            ev = idx[k]
            st = ev["ModelAdvance"]["steps"] if "ModelAdvance" in ev else 1
            out.append(f"| {k[4]} | {k[3]} | {k[1]} | {1e3 * per(ev, 'ModelAdvance', st):.2f} | {1e3 * per(ev, 'ModelFFT', st):.2f} | "
                       f"{1e3 * per(ev, 'ModelTranspose', st):.2f} | {per(ev, 'StateFileWrite', 1):.3f} | {ev['summary']['load1']} | {'yes' if ev['summary']['oversubscribed'] else ''} |")
        out.append("")
    for suite, phases in (("letkf", LETKF_PHASES), ("daisi", DAISI_PHASES)):
        keys = sorted(k for k in idx if k[0] == suite)
        if not keys:
            continue
        out += [f"### daisi-filter -filter_type {suite}: seconds per cycle (max over ranks)", "",
                "| N | M | R | G | " + " | ".join(p for p, _ in phases) + " | load | oversubscribed |",
                "|---|---|---|---|" + "---|" * len(phases) + "---|---|"]
        for k in sorted(keys, key=lambda k: (k[4], k[3], k[1], k[2])):
            ev = idx[k]
            cyc = ev["summary"]["cycles"] or 1
            vals = " | ".join(f"{per(ev, e, cyc):.4f}" if e in ev else "-" for _, e in phases)
            out.append(f"| {k[4]} | {k[3]} | {k[1]} | {k[2]} | {vals} | {ev['summary']['load1']} | {'yes' if ev['summary']['oversubscribed'] else ''} |")
        out.append("")
    print("\n".join(out))


def plots(idx, a):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(a.o, exist_ok=True)
    mk = lambda over: dict(marker="o", mfc="none" if over else None)

    def axset(ax, **kw):
        """labels always; log scales only when the axes have data (a partial CSV plots what it has)"""
        import math
        ys = [y for l in ax.get_lines() for y in l.get_ydata()] + [pt.get_height() for pt in ax.patches]
        if not any(isinstance(y, (int, float)) and math.isfinite(y) and y > 0 for y in ys):
            kw.pop("xscale", None), kw.pop("yscale", None)
            ax.text(0.5, 0.5, "no runs in the CSV", ha="center", transform=ax.transAxes)
        ax.set(**kw)

    def ticks(ax, vals):
        """plain numbers at the given x values (log axes), grid, legend"""
        if vals:
            ax.set_xticks(vals)
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.get_xaxis().set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)

    def line(ax, xs, ys, overs, label, **kw):
        kw.setdefault("ls", "-")
        p = ax.plot(xs, ys, label=label, **kw)[0]
        for x, y, o in zip(xs, ys, overs):
            ax.plot([x], [y], "o", color=p.get_color(), mfc="none" if o else p.get_color())

    # --- nature: strong scaling per N
    fig, axs = plt.subplots(1, 2, figsize=(11, 4.2))
    ns = sorted({k[4] for k in idx if k[0] == "nature" and k[3] == 1})
    for n in ns:
        ks = sorted((k for k in idx if k[0] == "nature" and k[4] == n and k[3] == 1), key=lambda k: k[1])
        rs = [k[1] for k in ks]
        st = [idx[k]["ModelAdvance"]["steps"] for k in ks]
        t = [1e3 * per(idx[k], "ModelAdvance", s) for k, s in zip(ks, st)]
        ov = [idx[k]["summary"]["oversubscribed"] for k in ks]
        line(axs[0], rs, t, ov, f"N = {n}")
        if rs:
            axs[0].plot(rs, [t[0] / r for r in rs], ":", color="gray", lw=0.8)
        mean = lambda ev, e: ev[e]["time_mean_s"] if e in ev else float("nan")
        fft = [mean(idx[k], "ModelFFT") / max(mean(idx[k], "ModelAdvance"), 1e-30) for k in ks]
        tr = [mean(idx[k], "ModelTranspose") / max(mean(idx[k], "ModelAdvance"), 1e-30) for k in ks]
        col = axs[0].get_lines()[-2].get_color() if len(axs[0].get_lines()) >= 2 else None
        line(axs[1], rs, [100 * x for x in fft], ov, f"FFT, N = {n}", color=col)
        line(axs[1], rs, [100 * x for x in tr], ov, f"transpose, N = {n}", ls="--", color=col)
    axset(axs[0], xscale="log", yscale="log", xlabel="ranks", ylabel="ms per model step", title="daisi-nature: strong scaling (dotted: ideal)")
    axset(axs[1], xscale="log", xlabel="ranks", ylabel="% of ModelAdvance (mean over ranks)", title="FFTs (solid), FFT transposes incl. output (dashed)")
    for ax in axs:
        ticks(ax, sorted({k[1] for k in idx if k[0] == "nature"}))
    fig.tight_layout()
    fig.savefig(os.path.join(a.o, "scaling_nature.png"), dpi=110)
    plt.close(fig)

    # --- letkf: strong (G = 1, G = R) and weak in members
    fig, axs = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, title, sel in (
            (axs[0], f"LETKF strong scaling, N = {a.n}, M = {a.members}, G = 1", lambda k: k[3] == a.members and k[2] == 1),
            (axs[1], f"LETKF strong scaling, N = {a.n}, M = {a.members}, G = R", lambda k: k[3] == a.members and k[2] == k[1]),
            (axs[2], f"LETKF weak scaling, N = {a.n}, M = 10 R, G = R", lambda k: k[3] == 10 * k[1] and k[2] == k[1])):
        ks = sorted((k for k in idx if k[0] == "letkf" and k[4] == a.n and sel(k)), key=lambda k: k[1])
        for name, e in LETKF_PHASES:
            ys = [per(idx[k], e, idx[k]["summary"]["cycles"]) for k in ks]
            line(ax, [k[1] for k in ks], ys, [idx[k]["summary"]["oversubscribed"] for k in ks], name)
        axset(ax, xscale="log", yscale="log", xlabel="ranks", ylabel="s per cycle", title=title)
        ticks(ax, [k[1] for k in ks] or [1])
    fig.tight_layout()
    fig.savefig(os.path.join(a.o, "scaling_letkf.png"), dpi=110)
    plt.close(fig)

    # --- daisi: phases per layout
    ks = sorted((k for k in idx if k[0] == "daisi" and k[4] == 64 and k[3] == a.daisi_members), key=lambda k: (k[1], k[2]))
    if ks:
        import numpy as np
        fig, ax = plt.subplots(figsize=(11, 4.2))
        names = [p for p in DAISI_PHASES if p[1] != "EnsTranspose"]
        w = 0.8 / len(ks)
        for i, k in enumerate(ks):
            ys = [per(idx[k], e, idx[k]["summary"]["cycles"]) for _, e in names]
            ax.bar(np.arange(len(names)) + i * w, ys, w, label=f"R = {k[1]}, G = {k[2]}" + (" (oversubscribed)" if idx[k]["summary"]["oversubscribed"] else ""),
                   hatch="//" if idx[k]["summary"]["oversubscribed"] else None)
        ax.set_xticks(np.arange(len(names)) + 0.4 - w / 2)
        ax.set_xticklabels([n for n, _ in names], rotation=30, ha="right", fontsize=8)
        axset(ax, yscale="log", ylabel="s per cycle", title=f"DAISI cycle phases, N = 64, M = {a.daisi_members}, shipped prior, 2 + 2 SDE steps")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, axis="y")
        fig.tight_layout()
        fig.savefig(os.path.join(a.o, "scaling_daisi.png"), dpi=110)
        plt.close(fig)

    # --- size: members and N on one rank
    fig, axs = plt.subplots(1, 2, figsize=(11, 4.2))
    ks = sorted((k for k in idx if k[0] == "letkf" and k[4] == a.n and k[1] == 1 and k[2] == 1), key=lambda k: k[3])
    for name, e in LETKF_PHASES[:3]:
        axs[0].plot([k[3] for k in ks], [per(idx[k], e, idx[k]["summary"]["cycles"]) for k in ks], "o-", label=f"LETKF {name}")
    axset(axs[0], xscale="log", yscale="log", xlabel="members M", ylabel="s per cycle", title=f"ensemble size, N = {a.n}, 1 rank")
    for suite, names in (("letkf", LETKF_PHASES[:3]), ("daisi", DAISI_PHASES[1:3] + DAISI_PHASES[5:6])):
        mm = a.members if suite == "letkf" else min((k[3] for k in idx if k[0] == "daisi"), default=4)
        ks = sorted((k for k in idx if k[0] == suite and k[3] == mm and k[1] == 1 and k[2] == 1), key=lambda k: k[4])
        for name, e in names:
            axs[1].plot([k[4] for k in ks], [per(idx[k], e, idx[k]["summary"]["cycles"]) for k in ks], "o-" if suite == "letkf" else "s--",
                        label=f"{suite} {name} (M = {mm})")
    axset(axs[1], xscale="log", yscale="log", xlabel="N", ylabel="s per cycle", title="grid size, 1 rank")
    for ax, vals in ((axs[0], sorted({k[3] for k in idx if k[0] == "letkf" and k[4] == a.n and k[1] == 1})),
                     (axs[1], sorted({k[4] for k in idx if k[0] in ("letkf", "daisi") and k[1] == 1}))):
        ticks(ax, vals)
    fig.tight_layout()
    fig.savefig(os.path.join(a.o, "scaling_size.png"), dpi=110)
    plt.close(fig)
    print(f"plot_scaling | wrote {os.path.join(a.o, 'scaling_{nature,letkf,daisi,size}.png')}")


# ---------------------------------------------------------------------------------------------
# Performance model (docs/scaling.md). Machine: a typical InfiniBand cluster; compute rates:
# this 2-core machine, one core, idle (docs/performance.md, docs/filters.md, 2026-11-23).
MACHINE = dict(
    alpha=2e-6,            # s per message between nodes (MPI over InfiniBand HDR)
    alpha_intra=0.5e-6,    # s per message inside a node (shared memory)
    node_bw=25e9,          # B/s injection bandwidth of a node (HDR 200 Gb/s)
    ranks_per_node=64,     # one rank per core
    intra_bw=3e9,          # B/s per rank for shared-memory copies (memory bandwidth share)
    mem_per_rank=2e9,      # B (128 GB nodes with 64 cores)
    io_bw=1e9,             # B/s one writer (rank 0) to a parallel file system
)
RATES = dict(
    sqg=6.1e-8,            # s per member-step / (N^2 log2 N), fit to sqg_bench N = 64..512, 1 rank
    net_flops=0.886e9,     # flop per forward pass per sample at N = 64 (x (N/64)^2)
    net_rate=100e9,        # flop/s per core for the network passes (nn_bench: 106 forward)
    act_bytes=20.8e6 * 3,  # activation bytes per sample at N = 64 incl. tangents/cotangents (x (N/64)^2)
    letkf_c3=9.3e-10,      # s per point per M^3 (M x M eigenproblems; letkf_bench noisy M = 80)
    letkf_c2=1e-10,        # s per point per p M min(p, M) (forming the local matrix; ~20 GFLOP/s)
    letkf_small=4.3e-6,    # s per point: overhead (letkf_bench sparse, M = 20, p = 6.6)
    letkf_lin=5.4e-8,      # s per point per member (sparse, M = 20..200: linear in M)
    gather_per_k=84,       # network row gathers per cycle per chunk, per (inversion + guided) step pair (-log_view)
    gn_per_k=55,           # group-norm allreduces likewise
    fft_transposes=8,      # FFTW-MPI transposes per model step per chunk of members (-log_view)
    ens_transposes=4,      # whole-ensemble transposes per cycle (2 in the filter, 2 for scores)
)
DT = {32: 2400, 64: 1200, 96: 900, 128: 600, 192: 300, 256: 90, 512: 90, 1024: 40}


def project(N, M, R, P, K=100, obs_fraction=0.05, cutoff=1.5e6, L=2, chunk=4, save_members=False):
    """per-cycle seconds per phase and bytes per rank, for R ranks as G = R / P groups"""
    m, r = MACHINE, RATES
    import math
    G = max(1, min(M, R // P))
    b = math.ceil(M / G)                                 # members per group
    steps = round(10800 / DT[N])                         # 3-hour cycle
    off = P > m["ranks_per_node"]                        # a group spans nodes
    bw_rank = m["node_bw"] / m["ranks_per_node"] if off else m["intra_bw"]
    a_grp = m["alpha"] if off else m["alpha_intra"]
    bw_world = m["node_bw"] / m["ranks_per_node"] if R > m["ranks_per_node"] else m["intra_bw"]
    a_world = m["alpha"] if R > m["ranks_per_node"] else m["alpha_intra"]
    lg = lambda x: max(1.0, math.log2(x))
    t = {}
    # forecast: compute + FFT transposes (8 all-to-alls per step per chunk, 480 N^2 B per member)
    nchunk = b                                           # -sqg_fft_batch 0: the whole batch, counted per member for the volume
    t["forecast compute"] = steps * b * r["sqg"] * N * N * math.log2(N) / P
    t["forecast transposes"] = 0.0 if P == 1 else steps * (r["fft_transposes"] * (P - 1) * a_grp + b * 480 * N * N / P / bw_rank)
    # LETKF: local analyses, obs-space ensemble allreduce, whole-ensemble transposes
    npts = L * N * N
    nobs = obs_fraction * npts
    dx = 2e7 / N
    p_loc = obs_fraction * L * math.pi * (cutoff / dx) ** 2
    q = min(p_loc, M)                                    # size of the local eigenproblem (p x p or M x M)
    tpt = r["letkf_small"] + r["letkf_lin"] * M + r["letkf_c3"] * q ** 3 + r["letkf_c2"] * p_loc * M * q
    t["letkf local analyses"] = math.ceil(npts / R) * tpt
    t["letkf HX allreduce"] = 2 * a_world * lg(R) + 2 * 8 * M * nobs / bw_world
    t["ensemble transposes"] = r["ens_transposes"] * ((R - 1) * a_world + 8 * M * npts / R / bw_world)
    # DAISI: (K + 5K) forward-pass equivalents per member, row gathers + group norms per chunk
    F = r["net_flops"] * (N / 64) ** 2
    t["daisi network compute"] = b * 6 * K * F / (P * r["net_rate"])
    nch = math.ceil(b / chunk)
    t["daisi halo + group-norm latency"] = 0.0 if P == 1 else nch * K * (r["gather_per_k"] * (P - 1) * a_grp + r["gn_per_k"] * 2 * a_grp * lg(P))
    # output: 4 fields per cycle gathered to rank 0 (MPI_Gatherv) and written there; with
    # -filter_save_members every member too, one at a time (gathered from its group)
    t["diagnostics output (rank 0)"] = 4 * ((R - 1) * a_world + 8 * npts / bw_world + 8 * npts / m["io_bw"])
    if save_members:
        t["diagnostics output (rank 0)"] += M * ((P - 1) * a_grp + 8 * npts / bw_world + 8 * npts / m["io_bw"])
    mem = {
        "forecast FFT buffers": b * 600 * N * N / P,
        "letkf HX + Yb (replicated)": 16 * M * nobs,
        "letkf analysis layout": 3 * 8 * M * npts / R,
        "daisi activations": min(b, chunk) * r["act_bytes"] * (N / 64) ** 2 / P,
        "rank 0: two global fields": 16 * npts,
    }
    return G, b, steps, p_loc, t, mem


def model_tables(a):
    cases = []
    for N in (512, 1024):
        for M in (1000,):
            for R, P in ((1000, 1), (1000, 8), (10000, 10), (10000, 64), (100000, 100), (100000, 256)):
                cases.append((N, M, R, P))
    cases.append((1024, 100, 100000, 512))
    out = ["| N | M | R | G x P (members/group) | forecast compute | FFT transposes | LETKF local analyses | HX allreduce | ensemble transposes | DAISI network | DAISI halo + GN latency | diagnostics (rank 0) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    mout = ["| N | M | R | G x P | FFT buffers | LETKF HX + Yb (every rank) | LETKF analysis layout | DAISI activations (chunk of min(b, 4)) | rank 0: output fields |",
            "|---|---|---|---|---|---|---|---|---|"]
    f = lambda x: f"{x:.3g}"
    gb = lambda x: f"{x / 1e9:.3g}"
    for N, M, R, P in cases:
        G, b, steps, p_loc, t, mem = project(N, M, R, P)
        out.append(f"| {N} | {M} | {R} | {G} x {P} ({b}) | {f(t['forecast compute'])} | {f(t['forecast transposes'])} | "
                   f"{f(t['letkf local analyses'])} | {f(t['letkf HX allreduce'])} | {f(t['ensemble transposes'])} | {f(t['daisi network compute'])} | "
                   f"{f(t['daisi halo + group-norm latency'])} | {f(t['diagnostics output (rank 0)'])} |")
        mout.append(f"| {N} | {M} | {R} | {G} x {P} | {gb(mem['forecast FFT buffers'])} | {gb(mem['letkf HX + Yb (replicated)'])} | "
                    f"{gb(mem['letkf analysis layout'])} | {gb(mem['daisi activations'])} | {gb(mem['rank 0: two global fields'])} |")
    print("Projected seconds per 3-hour cycle (DAISI 100 + 100 steps; sparse network: 5 % of the points, 1500 km cutoff; no member output):\n")
    print("\n".join(out))
    print("\nMemory per rank (GB):\n")
    print("\n".join(mout))


def fit(rows):
    """compute rates seen in this CSV (1-rank runs), next to the idle ones the model uses"""
    import math
    idx = index(rows)
    print("| quantity | from this CSV (1 rank) | model (idle, docs/performance.md) |\n|---|---|---|")
    for k, ev in sorted(idx.items()):
        if k[0] == "nature" and k[1] == 1 and k[3] == 1 and "ModelAdvance" in ev:
            n = k[4]
            t = ev["ModelAdvance"]["time_max_s"] / ev["ModelAdvance"]["steps"]
            print(f"| SQG step, N = {n}: s / (N^2 log2 N) | {t / (n * n * math.log2(n)):.3g} | {RATES['sqg']:.3g} |")
    for k, ev in sorted(idx.items()):
        if k[0] == "daisi" and k[1] == 1 and "DaisiNetForward" in ev:
            n, M = k[4], k[3]
            calls = ev["DaisiNetForward"]["count"]
            # forward-pass equivalents: velocity F, JVP 2F, VJP 2F
            fe = ev["DaisiNetForward"]["count"] + 2 * ev.get("DaisiNetJVP", {"count": 0})["count"] + 2 * ev.get("DaisiNetVJP", {"count": 0})["count"]
            tt = sum(ev[e]["time_max_s"] for e in ("DaisiNetForward", "DaisiNetJVP", "DaisiNetVJP") if e in ev)
            chunk = min(M, 4)
            flops = fe * chunk * RATES["net_flops"] * (n / 64) ** 2 * math.ceil(M / chunk) / math.ceil(M / chunk)
            print(f"| network, N = {n}, M = {M}: GFLOP/s per core | {flops * math.ceil(M / chunk) / tt / 1e9 if tt else float('nan'):.3g} | {RATES['net_rate'] / 1e9:.3g} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv")
    ap.add_argument("-o", default=".", help="output directory")
    ap.add_argument("--n", type=int, default=64, help="N of the LETKF scaling plots")
    ap.add_argument("--members", type=int, default=20, help="M of the LETKF strong scaling plots")
    ap.add_argument("--daisi-members", type=int, default=8)
    ap.add_argument("--table", action="store_true", help="print Markdown tables")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--model", action="store_true", help="print the projection of docs/scaling.md (and the rates fitted from the CSV)")
    a = ap.parse_args()
    rows = load(a.csv)
    idx = index(rows)
    if a.model:
        fit(rows)
        print()
        model_tables(a)
        return
    if a.table:
        tables(idx, a)
    if not a.no_plots:
        plots(idx, a)


if __name__ == "__main__":
    main()
