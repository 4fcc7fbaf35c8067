#!/usr/bin/env python3
"""Generate docs/options.md, the option reference of every DAISI driver, from the drivers
themselves, so that it cannot drift from the option registrations.

Each driver is run with -help on a tiny problem in a scratch directory (PETSc prints every
option a program queries through PetscOptionsBegin/End, with its default, while the program
runs; a DAISI driver runs to completion with -help, so the problems must be tiny). Runs with
other settings (the l63 model, the daisi filter with a Gaussian and with a network prior, ...)
add the sections only those settings query. Options that are read directly with
PetscOptionsGet*() (not listed by -help) are found by scanning drivers/*.c and src/**/*.c.

  tools/gen_options_doc.py --bin build/bin --out docs/options.md       # refresh the page
  tools/gen_options_doc.py --bin build/bin --check docs/options.md     # exit 1 if it differs

Environment: MPIEXEC (default mpiexec). Each run is on 1 rank, two at a time; 15-40 s on the loaded 2-core machine.
"""
import argparse
import difflib
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# PETSc's own sections of the -help output (not DAISI options)
SKIP_SECTIONS = ("Options for all PETSc programs", "PetscDevice", "Root PetscDeviceContext")

# (driver, label, arguments). The first run of a driver is its base run; a section first seen
# in a later run is marked with that run's label. Files are made by earlier runs in the same
# scratch directory; string options given here are never the source of a documented default.
NATURE_TINY = ["-nature_spinup_steps", "0", "-nature_steps", "2", "-nature_every", "1"]
RUNS = [
    ("daisi-nature", "", NATURE_TINY),  # writes nature.h5 (N = 64, 3 times)
    ("daisi-nature", "-model_type l63", ["-model_type", "l63"] + NATURE_TINY + ["-nature_output", "l63.h5"]),
    ("daisi-obs", "", []),  # stops after printing its options
    ("daisi-sample", "", ["-prior_gaussian_truth", "nature.h5", "-sample_estimate", "gauss.h5"]),
    ("daisi-sample", "-prior_type net", ["-prior_type", "net", "-prior_file", "@SRC@/priors/sqg64/prior.h5", "-sample_output", "samples.h5",
                                         "-sample_count", "1", "-sample_steps", "1"]),
    ("daisi-filter", "", ["-truth", "nature.h5", "-obs", "obs.h5", "-cycles", "1", "-ens_size", "4"]),
    ("daisi-filter", "-filter_type daisi (Gaussian prior)", ["-truth", "nature.h5", "-obs", "obs.h5", "-cycles", "1", "-ens_size", "4", "-filter_type", "daisi",
                                                            "-daisi_prior", "gauss.h5", "-daisi_steps", "1", "-daisi_inversion_steps", "1", "-filter_output", "fd.h5"]),
    ("daisi-filter", "-filter_type daisi (network prior)", ["-truth", "nature.h5", "-obs", "obs.h5", "-cycles", "1", "-ens_size", "2", "-filter_type", "daisi",
                                                           "-daisi_prior", "@SRC@/priors/sqg64/prior.h5", "-daisi_steps", "1", "-daisi_inversion_steps", "1",
                                                           "-filter_output", "fn.h5"]),
    ("daisi-train", "", ["-train_data", "nature.h5", "-train_val", "nature.h5", "-train_steps", "1", "-train_warmup", "0", "-train_batch", "2", "-train_val_samples", "2",
                         "-train_epoch_steps", "1"]),
]
# files the runs above need before -help (made without -help)
# options without a default that the program insists on (its error message says so); other
# string options given above are shown as having no default
REQUIRED = {"daisi-filter": {"truth", "obs"}, "daisi-train": {"train_data", "train_val"}}
SETUP = [("daisi-obs", ["-truth", "nature.h5", "-obs_output", "obs.h5", "-scenario", "sparse", "-obs_cycles", "1"])]

OPT_BOOL = re.compile(r"^\s+-(\S+): <(\S*) : (\S*)> ?(.*)$")             # default first
OPT_NOW = re.compile(r"^\s+-(\S+) <now (.*?) : formerly (.*?)>:? ?(.*)$")  # ints, strings, lists
OPT_REAL = re.compile(r"^\s+-(\S+) <(\S*) : (\S*)>:? ?(.*)$")             # default second
OPT_ONE = re.compile(r"^\s+-(\S+) <(.*?)>:? ?(.*)$")                      # arrays: current value only
MANPAGE = re.compile(r"^(.*?)\s*\(([A-Za-z0-9_]*)\)$")


def parse_help(text):
    """[(section title, [(name, default, description, manpage, kind)])] from -help output"""
    lines = text.splitlines()
    try:
        start = next(i for i, l in enumerate(lines) if l.startswith("# DAISI"))
    except StopIteration:
        start = 0
    sections, cur, prev_sep = [], None, False
    for line in lines[start:]:
        if line.startswith("-----"):
            prev_sep, cur = True, None
            continue
        if prev_sep and line.rstrip().endswith(":") and not line.startswith(" "):
            title = line.rstrip()[:-1].strip()
            cur = None if title.startswith(SKIP_SECTIONS) else (title, [])
            if cur:
                sections.append(cur)
            prev_sep = False
            continue
        prev_sep = False
        if cur is None:
            continue
        if not line.startswith("  "):
            cur = None  # program output ends the section
            continue
        m = OPT_BOOL.match(line)
        if m:
            name, default, kind, rest = m.group(1), m.group(2), "bool", m.group(4)
        else:
            m = OPT_NOW.match(line)
            if m:
                name, default, kind, rest = m.group(1), m.group(3), "value", m.group(4)
            else:
                m = OPT_REAL.match(line)
                if m:
                    name, default, kind, rest = m.group(1), m.group(3), "real", m.group(4)
                else:
                    m = OPT_ONE.match(line)
                    if not m:
                        if line.strip() and not line.strip().startswith("-"):
                            cur[1].append((None, None, line.strip(), "", "note"))
                        continue
                    name, default, kind, rest = m.group(1), m.group(2), "array", m.group(3)
        mm = MANPAGE.match(rest.strip())
        desc, man = (mm.group(1), mm.group(2)) if mm else (rest.strip(), "")
        cur[1].append((name, default.strip(), desc.strip(), man, kind))
    return sections


def run(cmd, cwd, timeout=120):
    env = dict(os.environ)
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return p.returncode, p.stdout


def given_options(args):
    return {a[1:] for a in args if a.startswith("-") and not re.match(r"^-[0-9.]", a)}


def collect(bindir, work, jobs=2):
    mpi = os.environ.get("MPIEXEC", "mpiexec").split()
    mpi = mpi + ["--oversubscribe", "-n", "1"]
    sub = lambda args: [a.replace("@SRC@", SRC) for a in args]

    def helprun(i):
        drv, label, args = RUNS[i]
        rc, out = run(mpi + [os.path.join(bindir, drv), "-help"] + sub(args), work)
        if rc:
            sys.exit(f"gen_options_doc: {drv} -help {' '.join(args)} failed (exit {rc}):\n{out[-3000:]}")
        return out

    # the first run writes nature.h5, which the set-up runs and the later runs read
    outs = {0: helprun(0)}
    for sdrv, sargs in SETUP:
        rc, out = run(mpi + [os.path.join(bindir, sdrv), "-daisi_quiet"] + sub(sargs), work)
        if rc:
            sys.exit(f"gen_options_doc: {sdrv} {' '.join(sargs)} failed:\n{out[-3000:]}")
    first = [i for i in range(1, len(RUNS)) if not any("gauss.h5" == a for a in RUNS[i][2]) or RUNS[i][0] == "daisi-sample"]
    later = [i for i in range(1, len(RUNS)) if i not in first]
    import concurrent.futures as cf
    with cf.ThreadPoolExecutor(max_workers=jobs) as ex:
        outs.update(zip(first, ex.map(helprun, first)))      # these make gauss.h5
        outs.update(zip(later, ex.map(helprun, later)))      # these read it

    drivers = {}  # driver -> dict(usage, sections: title -> dict(cond, opts: name -> entry))
    order = []
    for i, (drv, label, args) in enumerate(RUNS):
        out = outs[i]
        d = drivers.get(drv)
        if d is None:
            usage = []
            for line in out.splitlines():
                if line.startswith("-----"):
                    break
                usage.append(line.rstrip())
            d = drivers[drv] = {"usage": usage, "sections": {}}
            order.append(drv)
        given = given_options(args)
        values = {a for a in sub(args) if not a.startswith("-") and not re.match(r"^[0-9.]+$", a)}
        for title, opts in parse_help(out):
            sec = d["sections"].setdefault(title, {"cond": label, "opts": {}})
            for name, default, desc, man, kind in opts:
                if name is None:
                    sec["opts"].setdefault("#" + desc, None)
                    continue
                # a string option's -help default is its current value: unreliable when the
                # value came from the command line (directly or through another option)
                unreliable = kind == "value" and not re.match(r"^-?[0-9]+$", default) and (name in given or default in values)
                entry = {"default": default, "desc": desc, "man": man, "kind": kind, "given": unreliable,
                         "required": name in REQUIRED.get(drv, ()), "cond": label if label != sec["cond"] else ""}
                old = sec["opts"].get(name)
                if old is None or (old["given"] and not entry["given"]):
                    if old is not None:
                        entry["cond"] = old["cond"]
                    sec["opts"][name] = entry
    return order, drivers


def direct_options():
    """options read with PetscOptionsGet*/HasName outside an options block: {name: [files]}"""
    pat = re.compile(r'PetscOptions(?:Get[A-Za-z]*|HasName)\(\s*NULL\s*,\s*NULL\s*,\s*"-([a-z0-9_]+)"')
    found = {}
    for path in sorted(glob.glob(os.path.join(SRC, "drivers", "*.c")) + glob.glob(os.path.join(SRC, "src", "**", "*.c"), recursive=True)):
        with open(path) as f:
            for name in pat.findall(f.read()):
                found.setdefault(name, [])
                rel = os.path.relpath(path, SRC)
                if rel not in found[name]:
                    found[name].append(rel)
    return found


def cell(s):
    return s.replace("|", "\\|")


def fmt_default(e):
    if e["required"]:
        return "(required)"
    d = e["default"]
    if e["given"] or d == "":
        return "(none)"
    if e["kind"] == "bool":
        return d.lower()
    if e["kind"] == "array":
        return "list"
    return "`" + d + "`"


def render(order, drivers):
    out = ["# Option reference", "",
           "<!-- GENERATED by tools/gen_options_doc.py from the drivers' -help output: do not edit.",
           "     Refresh: tools/gen_options_doc.py --bin build/bin --out docs/options.md -->", "",
           "Every option of every driver, with its default, exactly as the programs register them",
           "(`PetscOptions*` calls between `PetscOptionsBegin`/`End`). This page is generated by",
           "`tools/gen_options_doc.py`, which runs each driver with `-help` on a tiny problem; the",
           "ctest test `docs_options` (label `docs`) fails when it no longer matches the code. Options",
           "can be given on the command line or in a YAML file (`-options_file_yaml FILE`); the",
           "[user guide](user-guide.md) explains them in context. A default shown as `(required)`",
           "has none: the program stops with an error without it. Sections marked *with ...* are read",
           "only with that setting. The same option may appear in several sections (read by several",
           "objects, e.g. the scenario table and the observation operator): one value serves all.",
           "`list` marks options that take a comma-separated list; PETSc's `-help` does not print",
           "their defaults, the meaning column and the topic pages give them.", ""]
    out.append("Drivers: " + ", ".join(f"[{d}](#{d})" for d in order) + ", [options read directly](#options-read-directly).")
    out.append("")
    for drv in order:
        d = drivers[drv]
        out += [f"## {drv}", "", "```"] + [l for l in d["usage"] if l.strip()] + ["```", ""]
        for title, sec in d["sections"].items():
            head = f"### {title}"
            if sec["cond"]:
                head += f" (with `{sec['cond'].split(' (')[0]}`" + (f", {sec['cond'].split(' (')[1]}" if " (" in sec["cond"] else ")")
            out += [head, ""]
            out += ["| option | default | meaning |", "|---|---|---|"]
            for name, e in sec["opts"].items():
                if e is None:
                    out.append(f"| **{cell(name[1:])}** | | |")
                    continue
                desc = e["desc"]
                if e["man"]:
                    desc += f" (`{e['man']}`)"
                if e["cond"]:
                    desc += f" *[with `{e['cond'].split(' (')[0]}`]*"
                out.append(f"| `-{name}` | {cell(fmt_default(e))} | {cell(desc)} |")
            out.append("")
    out += ["## Options read directly", "",
            "Read with `PetscOptionsGet*` outside an options block, so `-help` does not list them",
            "(found by scanning the sources):", "", "| option | read in |", "|---|---|"]
    for name, files in sorted(direct_options().items()):
        out.append(f"| `-{name}` | {', '.join('`' + f + '`' for f in files)} |")
    out += ["", "PETSc's own options (`-log_view`, `-options_file_yaml`, `-help`, `-malloc_debug`, ...) work",
            "with every driver; `-help` prints them.", ""]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(SRC, "build", "bin"), help="directory of the built drivers")
    ap.add_argument("--out", help="write the page here")
    ap.add_argument("--check", help="compare with this committed page; exit 1 if different")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="daisi-optdoc-")
    try:
        order, drivers = collect(os.path.abspath(a.bin), work)
        text = render(order, drivers)
    finally:
        if a.keep:
            print("scratch directory:", work, file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    if a.check:
        with open(a.check) as f:
            old = f.read()
        if old != text:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True), a.check, "generated"))
            print(f"\n{a.check} is out of date with the option registrations. Refresh it with\n"
                  f"  tools/gen_options_doc.py --bin {a.bin} --out {a.check}\n"
                  f"(from the source directory, after building) and commit the result.")
            sys.exit(1)
        print(f"{a.check} matches the option registrations")
    if not a.out and not a.check:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
