#!/usr/bin/env python3
"""Scaling measurements of the real DAISI drivers, phase by phase.

Runs daisi-nature (model forecast + HDF5 output), daisi-filter -filter_type letkf (forecast,
ensemble transposes, local analyses) and daisi-filter -filter_type daisi with a network prior
(inversion and guided SDEs, network passes, guidance) over a grid of rank counts R, member
groups G (-ens_groups), ensemble sizes M (-ens_size) and grid sizes N (-sqg_n), each under
`-log_view :run.csv:ascii_csv`, and writes one CSV row per (run, PETSc log event): the phase
the event belongs to, the layout, the number of calls, and the time (max, mean and min over
the ranks). The per-run `summary` row is the whole run.

  benchmarks/scaling.py --suite nature,letkf,daisi --ranks 1,2 --groups 1,2 --members 10,20 \\
      --n 32,64 --cycles 3 --out runs/scaling/scaling.csv
  tools/plot_scaling.py runs/scaling/scaling.csv -o docs/img/       # strong/weak scaling plots

benchmarks/scaling.sh is this with the settings used for docs/scaling.md. The input data
(truth, observations, untrained networks for N != 64) are made once in --work and reused.
For N = 64 the DAISI runs use the shipped prior priors/sqg64/prior.h5; for other N an
untrained network of the same architecture (one daisi-train step; its cost per pass is that
of a trained one) with -daisi_divergence_bound raised so that a meaningless analysis does not
stop the run. Environment: MPIEXEC (default mpiexec; e.g. MPIEXEC=srun inside a SLURM
allocation); runs as root are allowed.
"""
import argparse
import csv
import datetime
import os
import platform
import re
import subprocess
import sys
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# PETSc log event -> phase. Sub-phases (a:b) are contained in the phase a.
PHASES = {
    "summary": "total",
    "ModelAdvance": "forecast", "EnsForecast": "forecast",
    "ModelFFT": "forecast:fft", "ModelTranspose": "forecast:fft_transpose",
    "EnsInit": "setup", "ObsNetworkSetUp": "setup",
    "EnsTranspose": "ensemble_transpose",
    "FilterAnalysis": "analysis", "FilterObsOp": "analysis:obs_operator",
    "FilterLocal": "analysis:local", "FilterTransform": "analysis:local_transform",
    "DaisiInversion": "analysis:daisi_inversion", "DaisiGuidedSteps": "analysis:daisi_guided_steps",
    "DaisiGuidance": "guidance", "DaisiMMPSSolve": "guidance:mmps_solve", "DaisiGuidanceReduce": "guidance:reductions",
    "InterpolantStep": "analysis:sde_step",
    "PriorVelocity": "network:velocity", "PriorVJP": "network:vjp", "PriorJVP": "network:jvp",
    "PriorFFT": "network:gaussian_fft", "PriorEstimate": "setup",
    "DaisiNetForward": "network:forward", "DaisiNetVJP": "network:vjp_pass", "DaisiNetJVP": "network:jvp_pass",
    "NNConv3x3": "network:conv3x3", "NNConv1x1": "network:conv1x1", "NNGroupNorm": "network:groupnorm",
    "NNRowGather": "network:halo_rowgather", "NNPointwise": "network:pointwise", "NNVector": "network:vector",
    "NNGradReduce": "network:grad_reduce", "OptimizerStep": "training",
    "ObsOpApply": "obs_operator", "ObsOpJacobian": "obs_operator",
    "MetricsScores": "metrics", "MetricsRankHist": "metrics", "MetricsSpectrum": "metrics",
    "StateFileWrite": "hdf5_output", "CheckpointWrite": "hdf5_output:checkpoint",
    "StateFileRead": "hdf5_input", "CheckpointRead": "hdf5_input", "ObsFileRead": "hdf5_input", "ObsFileWrite": "hdf5_output",
    "DiagFileWrite": "hdf5_output:diagnostics", "FilterGather": "hdf5_output:gather",
}
FIELDS = ["date", "machine", "suite", "phase", "event", "ranks", "groups", "members", "n", "cycles", "steps",
          "count", "time_max_s", "time_mean_s", "time_min_s", "wall_s", "oversubscribed", "load1", "note"]


def ilist(s):
    return [int(x) for x in s.split(",") if x]


def run(cmd, cwd, log):
    env = dict(os.environ)
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    t0 = time.time()
    with open(log, "w") as f:
        f.write(" ".join(cmd) + "\n")
        f.flush()
        p = subprocess.run(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT)
    wall = time.time() - t0
    if p.returncode:
        with open(log) as f:
            tail = f.read()[-2500:]
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {p.returncode}); log {log}:\n{tail}")
    return wall


def read_log_view(path):
    """{event: (count, [time per rank])} from a PETSc 3.18 -log_view ascii_csv file"""
    ev = {}
    with open(path) as f:
        for row in csv.reader(f):
            if len(row) < 5 or row[0] == "Stage Name":
                continue
            name, count, t = row[1], float(row[3]), float(row[4])
            c, ts = ev.get(name, (0.0, []))
            ev[name] = (max(c, count), ts + [t])
    return ev


class Bench:
    def __init__(self, a):
        self.a = a
        self.bin = os.path.abspath(a.bin)
        self.work = os.path.abspath(a.work)
        os.makedirs(self.work, exist_ok=True)
        self.mpi = os.environ.get("MPIEXEC", "mpiexec").split()
        if os.path.basename(self.mpi[0]) in ("mpiexec", "mpirun", "orterun"):
            self.mpi.append("--oversubscribe")  # Open MPI on a small machine; srun has no such flag
        self.cores = os.cpu_count() or 1
        self.rows = []
        self.date = a.date or datetime.date.today().isoformat()
        self.machine = a.machine or f"{platform.node()} {self.cores} cores"
        self.nrun = 0
        self._written = 0
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        if not (a.append and os.path.exists(a.out)):
            with open(a.out, "w", newline="") as f:
                csv.DictWriter(f, FIELDS).writeheader()

    def exe(self, name, ranks, args, tag):
        self.nrun += 1
        logv = os.path.join(self.work, f"{tag}.logview.csv")
        cmd = self.mpi + ["-n", str(ranks), os.path.join(self.bin, name), "-daisi_quiet"] + args + ["-log_view", f":{logv}:ascii_csv"]
        load = os.getloadavg()[0]
        wall = run(cmd, self.work, os.path.join(self.work, f"{tag}.log"))
        return wall, load, read_log_view(logv)

    def record(self, suite, ranks, groups, members, n, cycles, steps, wall, load, ev):
        for name, (count, ts) in ev.items():
            if count == 0 and name != "summary":
                continue
            if name not in PHASES and not self.a.all_events:
                continue
            self.rows.append({
                "date": self.date, "machine": self.machine, "suite": suite, "phase": PHASES.get(name, "other"), "event": name,
                "ranks": ranks, "groups": groups, "members": members, "n": n, "cycles": cycles, "steps": steps,
                "count": int(count), "time_max_s": f"{max(ts):.6g}", "time_mean_s": f"{sum(ts) / len(ts):.6g}",
                "time_min_s": f"{min(ts):.6g}", "wall_s": f"{wall:.3f}", "oversubscribed": int(ranks > self.cores),
                "load1": f"{load:.2f}", "note": self.a.note})
        self.flush()
        tot = ev.get("summary", (0, [0]))[1]
        print(f"scaling | {suite:6s} R={ranks} G={groups} M={members:<4d} N={n:<4d} total {max(tot):8.3f} s (load {load:.2f})", flush=True)

    def flush(self):
        with open(self.a.out, "a", newline="") as f:
            csv.DictWriter(f, FIELDS).writerows(self.rows[self._written:])
        self._written = len(self.rows)

    # ---- input data, made once per N ----
    def truth(self, n):
        path = os.path.join(self.work, f"truth{n}.h5")
        if not os.path.exists(path):
            steps = 9 * (max(self.a.cycles, 10) + 1)
            run(self.mpi + ["-n", "1", os.path.join(self.bin, "daisi-nature"), "-daisi_quiet", "-sqg_n", str(n),
                            "-nature_spinup_days", str(self.a.spinup_days), "-nature_steps", str(steps), "-nature_every", "9",
                            "-nature_output", path], self.work, os.path.join(self.work, f"truth{n}.log"))
        return path

    def obs(self, n):
        path = os.path.join(self.work, f"obs{n}.h5")
        if not os.path.exists(path):
            run(self.mpi + ["-n", "1", os.path.join(self.bin, "daisi-obs"), "-daisi_quiet", "-scenario", self.a.scenario,
                            "-truth", self.truth(n), "-obs_output", path], self.work, os.path.join(self.work, f"obs{n}.log"))
        return path

    def prior(self, n):
        if n == 64 and self.a.prior:
            return os.path.abspath(self.a.prior), False
        path = os.path.join(self.work, f"net{n}.h5")
        if not os.path.exists(path):
            t = self.truth(n)
            run(self.mpi + ["-n", "1", os.path.join(self.bin, "daisi-train"), "-daisi_quiet", "-train_data", t, "-train_val", t,
                            "-train_steps", "1", "-train_warmup", "0", "-train_batch", "2", "-train_val_samples", "2",
                            "-train_epoch_steps", "1", "-train_checkpoint_every", "0", "-train_output", path],
                self.work, os.path.join(self.work, f"net{n}.log"))
        return path, True

    # ---- suites ----
    def nature(self):
        for n in self.a.n:
            for r in self.a.ranks:
                for m in self.a.nature_members:
                    out = os.path.join(self.work, "nature_out.h5")
                    wall, load, ev = self.exe("daisi-nature", r, ["-sqg_n", str(n), "-nature_spinup_steps", "0", "-nature_members", str(m),
                                                                  "-nature_steps", str(self.a.nature_steps), "-nature_every", "9",
                                                                  "-nature_output", out], f"nature_n{n}_r{r}_m{m}")
                    self.record("nature", r, 1, m, n, 0, self.a.nature_steps, wall, load, ev)

    def layouts(self, members):
        for r in self.a.ranks:
            for g in self.a.groups:
                if r % g == 0 and g <= members:
                    yield r, g

    def filt(self, suite, extra):
        for n in self.a.n:
            t, o = self.truth(n), self.obs(n)
            args = []
            if suite == "daisi":
                prior, untrained = self.prior(n)
                args = ["-filter_type", "daisi", "-daisi_prior", prior, "-daisi_steps", str(self.a.daisi_steps),
                        "-daisi_inversion_steps", str(self.a.daisi_steps)]
                if untrained:
                    args += ["-daisi_divergence_bound", "1e300"]
            else:
                args = ["-filter_type", "letkf", "-letkf_cutoff", "1500e3", "-letkf_rtps", "0.5"]
            for m in (self.a.daisi_members if suite == "daisi" else self.a.members):
                for r, g in self.layouts(m):
                    tag = f"{suite}_n{n}_r{r}_g{g}_m{m}"
                    wall, load, ev = self.exe("daisi-filter", r, ["-truth", t, "-obs", o, "-cycles", str(self.a.cycles), "-ens_size", str(m),
                                                                  "-ens_groups", str(g), "-filter_output", os.path.join(self.work, "f.h5")] + args + extra, tag)
                    self.record(suite, r, g, m, n, self.a.cycles, 9 * self.a.cycles, wall, load, ev)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(SRC, "build", "bin"))
    ap.add_argument("--work", default="/tmp/daisi-scaling", help="scratch directory (inputs, logs, -log_view files)")
    ap.add_argument("--out", default="scaling.csv")
    ap.add_argument("--append", action="store_true", help="append to --out instead of overwriting it")
    ap.add_argument("--suite", default="nature,letkf,daisi")
    ap.add_argument("--ranks", type=ilist, default=[1, 2])
    ap.add_argument("--groups", type=ilist, default=[1])
    ap.add_argument("--members", type=ilist, default=[20], help="ensemble sizes of the letkf suite")
    ap.add_argument("--daisi-members", type=ilist, default=[4], help="ensemble sizes of the daisi suite")
    ap.add_argument("--nature-members", type=ilist, default=[1], help="trajectories per nature run (-nature_members)")
    ap.add_argument("--n", type=ilist, default=[64])
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--nature-steps", type=int, default=90)
    ap.add_argument("--daisi-steps", type=int, default=2, help="-daisi_steps = -daisi_inversion_steps")
    ap.add_argument("--spinup-days", type=float, default=10)
    ap.add_argument("--scenario", default="sparse")
    ap.add_argument("--prior", default=os.path.join(SRC, "priors", "sqg64", "prior.h5"), help="network prior for N = 64")
    ap.add_argument("--date", help="date recorded in the CSV (default today)")
    ap.add_argument("--machine", help="machine description recorded in the CSV")
    ap.add_argument("--note", default="", help="free text recorded in every row (e.g. 'loaded: 1 core busy')")
    ap.add_argument("--all-events", action="store_true", help="also record events not in the phase table")
    a = ap.parse_args()
    b = Bench(a)
    for s in a.suite.split(","):
        if s == "nature":
            b.nature()
        elif s in ("letkf", "daisi"):
            b.filt(s, [])
        else:
            sys.exit(f"unknown suite {s} (nature, letkf, daisi)")
    print(f"scaling | {b.nrun} runs, {len(b.rows)} rows -> {a.out}")


if __name__ == "__main__":
    main()
