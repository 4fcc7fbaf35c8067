#!/usr/bin/env bash
# daisi-obs end to end on a tiny nature run (N = 32, 4 cycles):
#  1. every scenario: values recomputed exactly by obs_check (h(truth) + sigma * noise) with
#     noise mean and std checked; its YAML config run on 2 ranks gives the file of -scenario on
#     1 rank byte for byte, as do 3 and 4 ranks in some cases; the configs read completely as a
#     filter reads them, with the published settings; YAML = the same options on the command
#     line; netCDF readability;
#  2. overrides one by one, new sites each cycle, -obs_levels, -obs_cycles, a site file;
#  3. bad input to the driver, 4. bad observation files for the reader: a non-zero exit and a
#     message naming the culprit, and nothing left under the output name (nor a temporary).
# Most runs are short and latency-bound (MPI start-up), so independent runs go in parallel,
# at most 4 at a time.  Usage: obs_driver.sh <path of obs_check>
set -u
bin="$DAISI_BIN"
chk="$1"
mpi="$MPIEXEC --oversubscribe"
work=$(mktemp -d "${TMPDIR:-/tmp}/daisi-obs-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
# run NP PROGRAM ARGS: one rank runs as an MPI singleton (no mpiexec start-up)
run() { if [ "$1" -eq 1 ]; then "${@:2}"; else $mpi -n "$1" "${@:2}"; fi; }
obs() { run "$1" "$bin/daisi-obs" -daisi_quiet -truth truth.h5 "${@:2}"; }
check() { "$chk" -daisi_quiet "$@"; }
inside() { (cd "$1" && "${@:2}"); }
# spawn TAG COMMAND...: in the background; output in TAG.log, exit status in TAG.rc
spawn() {
  local tag=$1
  shift
  while [ "$(jobs -rp | wc -l)" -ge 4 ]; do sleep 0.05; done
  ("$@" > "$tag.log" 2>&1; echo $? > "$tag.rc") &
}
ok() { [ "$(cat "$1.rc" 2> /dev/null)" = 0 ]; }
why() { grep -m2 -E 'FAIL|ERROR: [a-z-]' "$1.log" | tr '\n' ' '; }

run 1 "$bin/daisi-nature" -daisi_quiet -sqg_n 32 -nature_spinup_days 1 -nature_steps 36 -nature_every 9 \
  -nature_progress_every 100000 -nature_output truth.h5 > nature.log 2>&1 || { fail "nature run ($(tail -3 nature.log))"; exit 1; }

# 1 and 2: generate
scenarios="noisy sparse multimodal saturating"
for s in $scenarios; do
  spawn $s.1 obs 1 -scenario $s -obs_output $s.1.h5
  spawn $s.yaml obs 2 -options_file_yaml "$DAISI_SRC/configs/sqg_$s.yaml" -obs_output $s.yaml.h5
  spawn $s.cfg check -options_file_yaml "$DAISI_SRC/configs/sqg_$s.yaml"
done
spawn sat3 obs 3 -scenario saturating -obs_output sat3.h5
spawn explicit obs 1 -scenario sparse -obs_operator linear -obs_fraction 0.05 -obs_sigma 1 -obs_seed 1 -obs_squared_scale 7 \
  -letkf_cutoff 1500e3 -letkf_rtps 0.5 -ens_size 20 -ens_init_sigma 3.06 -obs_output explicit.h5
spawn over obs 2 -scenario noisy -obs_sigma 2 -obs_fraction 0.1 -obs_operator arctan -obs_seed 7 -obs_output over.h5
spawn sq3 obs 1 -scenario multimodal -obs_squared_scale 3 -obs_output sq3.h5
spawn new1 obs 1 -scenario sparse -obs_new_sites_each_cycle -obs_output new1.h5
spawn new4 obs 4 -scenario sparse -obs_new_sites_each_cycle -obs_output new4.h5
spawn lev1 obs 2 -scenario noisy -obs_levels 1 -obs_cycles 2 -obs_output lev1.h5
printf '# iy ix\n3 4\n31 0   # a site in the last row\n' > good.txt
spawn good obs 2 -scenario sparse -obs_sites good.txt -obs_output good.h5
wait
# ... and check
declare -A sigma=([noisy]=5 [sparse]=1 [multimodal]=1 [saturating]=0.01)
for s in $scenarios; do ok $s.1 && spawn $s.chk check -truth truth.h5 -obs $s.1.h5 -sigma_expect ${sigma[$s]}; done
ok over && spawn over.chk check -truth truth.h5 -obs over.h5 -sigma_expect 2
ok sq3 && spawn sq3.chk check -truth truth.h5 -obs sq3.h5
ok new1 && spawn new.chk check -truth truth.h5 -obs new1.h5 -obs_new_sites_each_cycle
ok lev1 && spawn lev1.chk check -read lev1.h5 -n 32 -cycle 2
ok good && spawn good.chk check -read good.h5 -n 32 -cycle 4
wait

declare -A expect=([noisy]="h linear c 7., fraction 0.25, sigma 5., seed 1, cutoff 2.5e+06 m, rtps 0.5, 20 members, init 3.06 K"
  [sparse]="h linear c 7., fraction 0.05, sigma 1., seed 1, cutoff 1.5e+06 m, rtps 0.5, 20 members, init 3.06 K"
  [multimodal]="h squared c 7., fraction 0.25, sigma 1., seed 1, cutoff 2.5e+06 m, rtps 0.5, 20 members, init 3.06 K"
  [saturating]="h arctan c 7., fraction 0.25, sigma 0.01, seed 1, cutoff 4.5e+06 m, rtps 0.9, 20 members, init 3.06 K")
for s in $scenarios; do
  ok $s.1 || fail "$s on 1 rank: $(why $s.1)"
  ok $s.chk && pass "$s: values = h(truth) + noise exactly, noise mean and std" || fail "$s: check: $(why $s.chk)"
  ok $s.yaml || fail "configs/sqg_$s.yaml does not load: $(why $s.yaml)"
  cmp -s $s.1.h5 $s.yaml.h5 && pass "$s: configs/sqg_$s.yaml on 2 ranks = -scenario $s on 1 rank, byte for byte" || fail "$s: config on 2 ranks gives a different file"
  ok $s.cfg && grep -qF "scenario $s: ${expect[$s]}" $s.cfg.log && pass "configs/sqg_$s.yaml: read completely by DaisiObsScenarioGetFromOptions, published settings" ||
    fail "configs/sqg_$s.yaml as a filter reads it: $(head -2 $s.cfg.log)"
done
grep -q "256 sites x 2 level(s) = 512 observations per cycle" noisy.1.log && grep -q "51 sites x 2 level(s) = 102 observations per cycle" sparse.1.log &&
  pass "observation counts (2 x 256, 2 x 51)" || fail "observation counts"
ok sat3 && cmp -s saturating.1.h5 sat3.h5 && pass "saturating: same file on 1 and 3 ranks" || fail "saturating: 1 and 3 ranks differ: $(why sat3)"
ok explicit && cmp -s sparse.yaml.h5 explicit.h5 && pass "sparse: YAML config = the same options on the command line" || fail "sparse: YAML differs from explicit options: $(why explicit)"
if command -v ncdump > /dev/null; then
  ncdump -h sparse.1.h5 > nc.txt 2>&1 && grep -q "double value(cycle, obs)" nc.txt && grep -q 'scenario = "sparse"' nc.txt && grep -q 'truth_file = "truth.h5"' nc.txt &&
    grep -q "ny = 32" nc.txt && pass "netCDF-4 readable (ncdump), attributes present" || fail "ncdump: $(head -3 nc.txt)"
fi
ok over.chk && grep -q "h = arctan" over.chk.log && pass "overrides of operator, fraction, sigma, seed" || fail "overrides: $(why over) $(why over.chk)"
ok sq3.chk && ! cmp -s sq3.h5 multimodal.1.h5 && pass "override of the squared scale" || fail "squared scale override: $(why sq3) $(why sq3.chk)"
ok new4 && cmp -s new1.h5 new4.h5 && ok new.chk && pass "new sites each cycle: checked, 1 = 4 ranks" || fail "new sites each cycle: $(why new4) $(why new.chk)"
ok lev1.chk && grep -q "read cycle 2: 256 observations, 0 skipped" lev1.chk.log && pass "-obs_levels 1 -obs_cycles 2" || fail "-obs_levels/-obs_cycles: $(why lev1) $(head -2 lev1.chk.log)"
ok good.chk && grep -q "read cycle 4: 4 observations" good.chk.log && pass "text site file" || fail "text site file: $(why good) $(why good.chk)"

# 3. bad input to the driver; each case in its own directory, inputs from the parent
nbad=0
bad() { # name, ranks, expected message (grep -E), args...
  nbad=$((nbad + 1))
  mkdir bad$nbad
  printf '%s\n%s\n' "$1" "$3" > bad$nbad/case
  spawn bad$nbad/run inside bad$nbad run "$2" "$bin/daisi-obs" -daisi_quiet -obs_output out.h5 "${@:4}"
}
evaluate_bad() {
  wait
  for ((i = 1; i <= nbad; i++)); do
    local d=bad$i name msg rc
    name=$(sed -n 1p $d/case)
    msg=$(sed -n 2p $d/case)
    rc=$(cat $d/run.rc)
    if [ "$rc" -ne 0 ] && grep -Eq -- "$msg" $d/run.log && [ ! -e $d/out.h5 ] && ! ls $d/out.h5.tmp.* > /dev/null 2>&1; then pass "bad input: $name"; else
      fail "bad input: $name (rc=$rc, expected /$msg/; got: $(grep -m2 'ERROR: [a-z-]' $d/run.log | tr '\n' ' '))"; fi
  done
}
printf '# iy ix\n3 4\n5 32\n' > outside.txt
printf '3 4\n7 7\n3 4\n' > dup.txt
printf '3 4\n7 x\n' > garbled.txt
t=../truth.h5
bad "unknown scenario" 2 "unknown observation scenario 'foggy'" -scenario foggy -truth $t
bad "no scenario" 1 "give the observation scenario with -scenario" -truth $t
bad "missing truth file" 2 "no_such_truth.h5" -scenario sparse -truth no_such_truth.h5
bad "sigma = 0" 1 "obs_sigma must be a positive finite number, got 0" -scenario sparse -truth $t -obs_sigma 0
bad "fraction 0" 1 "obs_fraction must be in \(0, 1\], got 0" -scenario sparse -truth $t -obs_fraction 0
bad "site outside the grid (text)" 2 "outside.txt, line 3: site 1 at \(iy, ix\) = \(5, 32\) is outside the 32x32 grid" -scenario sparse -truth $t -obs_sites ../outside.txt
bad "duplicate site" 1 "dup.txt: site 2 at \(iy, ix\) = \(3, 4\) repeats site 0 \(lines 1 and 3\)" -scenario sparse -truth $t -obs_sites ../dup.txt
bad "garbled site line" 1 "garbled.txt, line 2: expected two integers" -scenario sparse -truth $t -obs_sites ../garbled.txt
bad "site file with new sites" 1 "cannot be combined with the site file" -scenario sparse -truth $t -obs_sites ../dup.txt -obs_new_sites_each_cycle
bad "level outside" 2 "observed level 2 \(option -obs_levels\) does not exist" -scenario sparse -truth $t -obs_levels 0,2
bad "too many cycles" 1 "-obs_cycles 9 asks for more cycles than truth file ../truth.h5 holds" -scenario sparse -truth $t -obs_cycles 9
bad "unwritable output" 2 "nodir/out.h5.*[Nn]o such file or directory" -scenario sparse -truth $t -obs_output nodir/out.h5

# 4. bad observation files for the reader (made with h5py), and failures after writing began
if /usr/bin/python3 -c "import h5py, numpy" 2> /dev/null; then
  /usr/bin/python3 - << 'PY'
import h5py, numpy as np, shutil
def edit(name, var, cyc, i, v):
    shutil.copy("sparse.1.h5", name)
    with h5py.File(name, "r+") as f:
        a = f[var][...]; a[cyc, i] = v; f[var][...] = a
edit("nan.h5", "value", 1, [2, 5, 9], np.nan)
edit("sigma0.h5", "sigma", 1, 5, 0.0)
edit("siteout.h5", "ix", 1, 7, 40)
shutil.copy("truth.h5", "nantruth.h5")
with h5py.File("nantruth.h5", "r+") as f:
    th = f["theta"]; v = th[3]; v[0, 1, 1] = np.nan; th[3] = v
with h5py.File("sites.h5", "w") as f:
    f["sites"] = np.array([[1, 2], [3, 4], [40, 1]], dtype=np.int32)
PY
  bad "site outside the grid (HDF5)" 1 "sites.h5: site 2 at \(iy, ix\) = \(40, 1\) is outside the 32x32 grid" -scenario sparse -truth $t -obs_sites ../sites.h5
  bad "NaN in the truth at cycle 3 (after writing began)" 2 "nantruth.h5.*(NaN|Inf|finite)" -scenario sparse -truth ../nantruth.h5
  nrd=0
  rd() { # name, ranks, expected message, args...
    nrd=$((nrd + 1))
    printf '%s\n%s\n' "$1" "$3" > rd$nrd.case
    spawn rd$nrd run "$2" "$chk" -daisi_quiet "${@:4}"
  }
  rd "wrong grid" 2 "observation file sparse.1.h5 is for a 32x32 grid with 2 level\(s\), the model has N=64" -read sparse.1.h5 -n 64
  rd "sigma <= 0" 1 "sigma0.h5, cycle 2: observation 5 has sigma = 0\.?;" -read sigma0.h5 -n 32 -cycle 2
  rd "site outside the grid" 2 "siteout.h5, cycle 2: observation 7 at \(level, iy, ix\) = \(0, [0-9]+, 40\) is outside the 32x32 grid" -read siteout.h5 -n 32 -cycle 2
  rd "missing cycle" 1 "sparse.1.h5 has no cycle 9 \(it holds 4 cycle\(s\), numbers 1..4\)" -read sparse.1.h5 -n 32 -cycle 9
  rd "not an observation file" 1 "truth.h5 is not a DAISI observation file" -read truth.h5 -n 32
  spawn nan run 2 "$chk" -daisi_quiet -read nan.h5 -n 32 -cycle 2
  evaluate_bad
  for ((i = 1; i <= nrd; i++)); do
    name=$(sed -n 1p rd$i.case)
    msg=$(sed -n 2p rd$i.case)
    rc=$(cat rd$i.rc)
    if [ "$rc" -ne 0 ] && grep -Eq -- "$msg" rd$i.log; then pass "reader: $name"; else fail "reader: $name (rc=$rc, expected /$msg/; got: $(grep -m2 'ERROR: [a-z-]' rd$i.log | tr '\n' ' '))"; fi
  done
  ok nan && grep -q "read cycle 2: 99 observations, 3 skipped" nan.log && grep -q "warning: observation file nan.h5, cycle 2: skipped 3 NaN observation(s) of 102" nan.log &&
    pass "reader: NaN values skipped with a warning count" || fail "reader: NaN values: $(head -3 nan.log)"
else
  evaluate_bad
  fail "python3 with h5py and numpy is needed for the bad-file cases (apt-get install python3-h5py)"
fi
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
