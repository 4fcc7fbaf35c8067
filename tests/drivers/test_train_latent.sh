#!/usr/bin/env bash
# daisi-train -train_model latent (LO-SDA's background-conditioned latent interpolant) end to
# end on a small SQG twin experiment: LETKF cycling runs give the (background, truth) pairs, a
# tiny VAE's encoder maps them to latents. The loss gradient against central differences on 1
# and 2 ranks, 1 vs 2 ranks agree to reduction rounding, the validation loss falls, the weight
# file records the conditioning and the latent normalisation (checked against an independent
# encoding in numpy-free form: the std of the normalised truths is 1), and bad input ends in
# a clear error naming the culprit.
set -u
bin="$DAISI_BIN"
mpi="$MPIEXEC --oversubscribe"
py=/usr/bin/python3
work=$(mktemp -d "${TMPDIR:-/tmp}/daisi-train-latent-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
nat="-daisi_quiet -sqg_n 32 -nature_spinup_days 30 -nature_every 9 -nature_progress_every 100000"
$mpi -n 2 "$bin/daisi-nature" $nat -nature_steps 270 -nature_output truth_tr.h5 > nat.log 2>&1 || fail "training truth ($(tail -2 nat.log))"
$mpi -n 2 "$bin/daisi-nature" $nat -nature_steps 135 -nature_seed 7 -nature_output truth_va.h5 > nat.log 2>&1 || fail "validation truth"
for s in tr va; do
  $mpi -n 2 "$bin/daisi-obs" -daisi_quiet -options_file_yaml "$DAISI_SRC/configs/sqg_sparse.yaml" -truth truth_$s.h5 -obs_output obs_$s.h5 > obs.log 2>&1 || fail "daisi-obs $s ($(tail -2 obs.log))"
done
filt="-daisi_quiet -options_file_yaml $DAISI_SRC/configs/sqg_sparse.yaml -filter_type letkf -ens_size 8"
$mpi -n 2 "$bin/daisi-filter" $filt -truth truth_tr.h5 -obs obs_tr.h5 -cycles 30 -filter_output letkf_tr.h5 > f.log 2>&1 || fail "LETKF training run ($(tail -2 f.log))"
$mpi -n 2 "$bin/daisi-filter" $filt -truth truth_va.h5 -obs obs_va.h5 -cycles 15 -filter_output letkf_va.h5 > f.log 2>&1 || fail "LETKF validation run ($(tail -2 f.log))"
vnet="-nn_base_width 8 -nn_channel_mult 1,2,2 -nn_groups 4 -nn_latent_channels 3"
$mpi -n 2 "$bin/daisi-train" -daisi_quiet -train_model vae -train_data truth_tr.h5 -train_val truth_va.h5 -train_batch 8 -train_steps 20 -train_warmup 5 \
  -train_val_samples 8 -train_checkpoint_every 0 $vnet -train_output dec.h5 -train_encoder_output enc.h5 > vae.log 2>&1 || fail "VAE ($(tail -2 vae.log))"

lat="-daisi_quiet -train_model latent -train_vae_encoder enc.h5 -train_data letkf_tr.h5 -train_truth truth_tr.h5 -train_val letkf_va.h5 -train_val_truth truth_va.h5 -train_first_cycle 5"
unet="-nn_base_width 8 -nn_channel_mult 1,2 -nn_groups 4 -nn_time_features 8 -nn_time_dim 16"
# 1. the loss gradient against central differences, 1 and 2 ranks
for np in 1 2; do
  $mpi -n $np "$bin/daisi-train" $lat $unet -train_check_gradient -train_batch 12 -train_output g.h5 > g.log 2>&1 \
    && grep -q "gradient check: directional derivative" g.log && [ ! -e g.h5 ] && pass "latent loss gradient on $np rank(s) ($(grep -o 'difference / |g| [0-9.e+-]*' g.log))" || fail "latent gradient check on $np rank(s): $(grep -m1 -E 'check|ERROR' g.log)"
done
# 2. training on 2 and 1 ranks
tr="$lat $unet -train_batch 12 -train_steps 60 -train_warmup 10 -train_lr 3e-3 -train_epoch_steps 20 -train_val_samples 24 -train_checkpoint_every 0 -train_progress_every 20"
$mpi -n 2 "$bin/daisi-train" $tr -train_output la.h5 > la.log 2>&1 || fail "latent training on 2 ranks ($(tail -3 la.log))"
$mpi -n 1 "$bin/daisi-train" $tr -train_output lb.h5 > lb.log 2>&1 || fail "latent training on 1 rank ($(tail -3 lb.log))"
grep -q "26 training pairs (cycles >= 5 of letkf_tr.h5), 11 validation pairs" la.log && pass "pairs: cycles 5-30 and 5-15" || fail "pair count ($(grep -m1 'latent interpolant' la.log))"
if $py -c "import h5py, numpy" 2>/dev/null; then
  $py - <<'PY' && pass "latent model: 1 vs 2 ranks within rounding, validation loss falls, conditioning and normalisation recorded" || fail "latent training results (see above)"
import h5py, numpy as np, sys
ok = True
with h5py.File("la.h5") as f, h5py.File("lb.h5") as g, h5py.File("enc.h5") as e:
    a, b = f["parameters"][:], g["parameters"][:]
    rel = np.abs(a - b).max() / np.abs(a).max()
    if not rel < 1e-3: print("1 vs 2 ranks differ by", rel); ok = False
    t = f.attrs["type"]; t = t.decode() if isinstance(t, bytes) else str(t)
    if t != "unet" or int(f.attrs["cond_channels"][0]) != 3 or int(f.attrs["in_channels"][0]) != 3: print("not a unet on 3 latent channels conditioned on 3:", t, f.attrs["cond_channels"], f.attrs["in_channels"]); ok = False
    md = f["metadata"].attrs
    get = lambda k: (md[k].decode() if isinstance(md[k], bytes) else str(md[k]))
    std = np.array([float(v) for v in get("latent_std").split(",")]); mean = np.array([float(v) for v in get("latent_mean").split(",")])
    if std.size != 3 or mean.size != 3 or not (std > 0).all(): print("latent normalisation", mean, std); ok = False
    if get("vae_encoder") != "enc.h5" or get("first_cycle") != "5": print("metadata", get("vae_encoder"), get("first_cycle")); ok = False
    es = e["metadata"].attrs["train_signature"]; es = es.decode() if isinstance(es, bytes) else str(es)
    if get("vae_signature") != es: print("vae_signature is not the encoder's training signature"); ok = False
curve = np.loadtxt("la.h5.curve.tsv", skiprows=1)
if not curve[-1, 3] < 0.9 * curve[0, 3]: print("validation loss did not fall:", curve[:, 3]); ok = False
print("latent validation loss", curve[:, 3])
sys.exit(0 if ok else 1)
PY
fi

# 3. bad input: non-zero exit, the culprit named, no weights written
bad() { # name, expected message (grep -E), args...
  local name=$1 msg=$2
  shift 2
  rm -f out.h5
  if $mpi -n 2 "$bin/daisi-train" -daisi_quiet $unet -train_output out.h5 "$@" > bad.log 2>&1; then fail "$name: accepted"; return; fi
  grep -Eq "$msg" bad.log && [ ! -e out.h5 ] && pass "$name: refused" || fail "$name: message ($(grep -m1 'ERROR: [a-zA-Z-]' bad.log))"
}
base="-train_model latent -train_vae_encoder enc.h5 -train_val letkf_va.h5 -train_val_truth truth_va.h5 -train_first_cycle 5"
bad "no truth" "needs -train_truth and -train_val_truth" -train_model latent -train_vae_encoder enc.h5 -train_data letkf_tr.h5 -train_val letkf_va.h5
bad "no encoder" "needs -train_vae_encoder" -train_model latent -train_data letkf_tr.h5 -train_truth truth_tr.h5 -train_val letkf_va.h5 -train_val_truth truth_va.h5
bad "a decoder as the encoder" "dec.h5 holds a decoder network, not an encoder" $base -train_vae_encoder dec.h5 -train_data letkf_tr.h5 -train_truth truth_tr.h5
bad "a state file as the run" "truth_tr.h5 has no 'cycle' or 'ens_mean_b' dataset" $base -train_data truth_tr.h5 -train_truth truth_tr.h5
bad "another run's truth (too short)" "truth_va.h5 has 16 times, the run letkf_tr.h5 goes to cycle 30" $base -train_data letkf_tr.h5 -train_truth truth_va.h5
bad "first cycle after the run" "letkf_tr.h5 has no cycle >= 40" $base -train_first_cycle 40 -train_data letkf_tr.h5 -train_truth truth_tr.h5
bad "missing run" "cannot open nothere.h5" $base -train_data nothere.h5 -train_truth truth_tr.h5
bad "latent options with the interpolant" "belong to -train_model latent" -train_data truth_tr.h5 -train_val truth_va.h5 -train_truth truth_tr.h5

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
