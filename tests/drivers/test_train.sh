#!/usr/bin/env bash
# daisi-train end to end with a tiny network: the loss falls, 1 vs 2 ranks agree to reduction
# rounding, a stopped (step or real signal) and resumed run equals the uninterrupted one bit
# for bit, the evaluation mode runs, and bad input ends in a clear error with nothing
# overwritten. The same for a variational autoencoder (-train_model vae), and the loss
# gradients of both models against central differences (-train_check_gradient).
set -u
bin="$DAISI_BIN"
mpi="$MPIEXEC --oversubscribe"
py=/usr/bin/python3
work=$(mktemp -d "${TMPDIR:-/tmp}/daisi-train-XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
nat="-daisi_quiet -sqg_n 32 -nature_spinup_days 20 -nature_every 9 -nature_progress_every 100000"
$mpi -n 2 "$bin/daisi-nature" $nat -nature_steps 900 -nature_members 4 -nature_output tr.h5 > nat.log 2>&1 || fail "training data ($(tail -2 nat.log))"
$mpi -n 2 "$bin/daisi-nature" $nat -nature_steps 180 -nature_seed 7 -nature_output va.h5 > nat.log 2>&1 || fail "validation data"
$mpi -n 1 "$bin/daisi-nature" -daisi_quiet -sqg_n 64 -nature_spinup_days 0 -nature_steps 18 -nature_output n64.h5 > nat.log 2>&1 || fail "N=64 data"

net="-nn_base_width 8 -nn_channel_mult 1,2 -nn_groups 4 -nn_time_features 8 -nn_time_dim 16"
tr="-daisi_quiet -train_data tr.h5 -train_val va.h5 -train_batch 12 -train_steps 90 -train_warmup 10 -train_lr 3e-3 -train_epoch_steps 30 -train_val_samples 24 -train_checkpoint_every 0 -train_progress_every 30 $net"

# 1. uninterrupted, on 2 and 1 ranks
$mpi -n 2 "$bin/daisi-train" $tr -train_output a.h5 > a.log 2>&1 || fail "training on 2 ranks ($(tail -3 a.log))"
$mpi -n 1 "$bin/daisi-train" $tr -train_output b.h5 > b.log 2>&1 || fail "training on 1 rank ($(tail -3 b.log))"
grep -q "train | done" a.log && [ -f a.h5 ] && [ ! -f a.h5.chk ] && pass "training completes, weights written, checkpoint removed" || fail "training output"
grep -Eq "step +30/90 .*samples/s \| ETA" a.log && pass "progress line with step, epoch, loss, val, samples/s, ETA" || fail "progress line"

# 2. stopped at a step and resumed (on another rank count), and a real SIGTERM
$mpi -n 2 "$bin/daisi-train" $tr -train_output c.h5 -train_stop_at_step 40 > c1.log 2>&1
rc=$?
[ $rc -eq 3 ] && [ -f c.h5.chk ] && pass "stop at step 40: checkpoint, exit 3" || fail "stop at step (rc=$rc)"
$mpi -n 2 "$bin/daisi-train" $tr -train_output c.h5 -train_restart > c2.log 2>&1 || fail "resume ($(tail -3 c2.log))"
grep -q "resuming from c.h5.chk at step 40" c2.log && pass "resume announced" || fail "resume not announced"
long="$tr -train_steps 4000 -train_epoch_steps 1000 -train_progress_every 50"
$mpi -n 2 "$bin/daisi-train" $long -train_output d.h5 > d1.log 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q "step  *50/" d1.log 2>/dev/null && break; sleep 0.05; done
kill -TERM $pid 2>/dev/null
wait $pid
rc=$?
# (mpiexec itself exits 1 when it forwards the signal; SLURM signals the ranks directly)
if [ -f d.h5.chk ] && [ $rc -ne 0 ] && grep -q "stopping on request" d1.log; then
  pass "SIGTERM -> checkpoint, non-zero exit"
  $mpi -n 2 "$bin/daisi-train" $long -train_output d.h5 -train_restart -train_steps 4000 -train_max_minutes 0.0001 > d2.log 2>&1
  rc=$?
  [ $rc -eq 3 ] && grep -q "resuming from d.h5.chk" d2.log && pass "wall-time limit -> checkpoint, exit 3" || fail "wall-time limit (rc=$rc)"
else
  fail "no checkpoint after SIGTERM (rc=$rc, $(tail -2 d1.log))"
fi

if $py -c "import h5py, numpy" 2>/dev/null; then
  $py - <<'PY' && pass "resumed weights and curve equal the uninterrupted run bit for bit; 1 vs 2 ranks within rounding; loss falls; metadata" || fail "training results (see above)"
import h5py, numpy as np, sys
def w(p):
    with h5py.File(p) as f:
        return f["parameters"][:], {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in f["metadata"].attrs.items()}
a, ma = w("a.h5"); b, mb = w("b.h5"); c, mc = w("c.h5")
ok = True
if not np.array_equal(a, c): print("resumed weights differ from the uninterrupted ones"); ok = False
if open("a.h5.curve.tsv").read() != open("c.h5.curve.tsv").read(): print("resumed curve differs"); ok = False
rel = np.abs(a - b).max() / np.abs(a).max()
if not rel < 1e-3: print("1 vs 2 ranks differ by", rel); ok = False
curve = np.loadtxt("a.h5.curve.tsv", skiprows=1)
if not (curve[-1, 3] < 0.95 * curve[0, 3] and curve[-1, 3] < curve[0, 2]): print("validation loss did not fall:", curve[:, 3]); ok = False
if abs(float(ma["data_scale"]) - 8.142857142857142) > 1e-12 or ma["trained_by"] != "daisi-train": print("metadata", ma); ok = False
print("1 vs 2 ranks: max rel weight difference %.2e; val loss %s" % (rel, curve[:, 3]))
sys.exit(0 if ok else 1)
PY
else
  fail "python3 with h5py and numpy is needed (apt-get install python3-h5py)"
fi

# 3. evaluation mode: the loss by t on a split, scale taken from the weights
$mpi -n 2 "$bin/daisi-train" -daisi_quiet -train_eval a.h5 -train_data va.h5 -train_eval_samples 40 -train_eval_bins 4 -train_eval_output ev.tsv > ev.log 2>&1 || fail "evaluation ($(tail -3 ev.log))"
[ "$(wc -l < ev.tsv)" -eq 5 ] && grep -q "eval | all t: loss" ev.log && pass "evaluation table by t" || fail "evaluation table"

# 3b. gradients of both models against central differences, on 1 and 2 ranks
vnet="-nn_base_width 8 -nn_channel_mult 1,2,2 -nn_groups 4 -nn_latent_channels 4"
for m in interpolant vae; do
  for np in 1 2; do
    $mpi -n $np "$bin/daisi-train" -daisi_quiet -train_model $m -train_check_gradient -train_data tr.h5 -train_val va.h5 -train_batch 12 -train_vae_beta 1 \
      $vnet -nn_time_features 8 -nn_time_dim 16 -train_output g.h5 -train_encoder_output ge.h5 > g.log 2>&1 \
      && grep -q "gradient check: directional derivative" g.log && [ ! -e g.h5 ] && pass "$m loss gradient on $np rank(s) ($(grep -o 'difference / |g| [0-9.e+-]*' g.log))" || fail "$m gradient check on $np rank(s): $(grep -m1 -E 'check|ERROR' g.log)"
  done
done

# 3c. the VAE: trains (validation loss falls), 1 vs 2 ranks, stop and resume, reconstruction table
vtr="-daisi_quiet -train_model vae -train_data tr.h5 -train_val va.h5 -train_batch 12 -train_steps 60 -train_warmup 10 -train_lr 3e-3 -train_epoch_steps 20 -train_val_samples 24 -train_checkpoint_every 0 -train_progress_every 20 $vnet"
$mpi -n 2 "$bin/daisi-train" $vtr -train_output va_dec.h5 -train_encoder_output va_enc.h5 > va.log 2>&1 || fail "VAE training on 2 ranks ($(tail -3 va.log))"
$mpi -n 1 "$bin/daisi-train" $vtr -train_output vb_dec.h5 -train_encoder_output vb_enc.h5 > vb.log 2>&1 || fail "VAE training on 1 rank ($(tail -3 vb.log))"
$mpi -n 2 "$bin/daisi-train" $vtr -train_output vc_dec.h5 -train_encoder_output vc_enc.h5 -train_stop_at_step 30 > vc1.log 2>&1
rc=$?
$mpi -n 1 "$bin/daisi-train" $vtr -train_output vc_dec.h5 -train_encoder_output vc_enc.h5 -train_restart > vc2.log 2>&1 || fail "VAE resume ($(tail -3 vc2.log))"
[ $rc -eq 3 ] && grep -q "resuming from vc_dec.h5.chk at step 30" vc2.log && pass "VAE stop at step 30 and resume on another rank count" || fail "VAE stop/resume (rc=$rc)"
if $py -c "import h5py, numpy" 2>/dev/null; then
  $py - <<'PY' && pass "VAE: resumed weights equal the uninterrupted ones; 1 vs 2 ranks within rounding; validation loss falls; types and latent recorded" || fail "VAE training results (see above)"
import h5py, numpy as np, sys
def w(p):
    with h5py.File(p) as f:
        return f["parameters"][:], f.attrs["type"].decode() if isinstance(f.attrs["type"], bytes) else str(f.attrs["type"]), int(f.attrs["latent_channels"][0])
ok = True
for half, typ in (("dec", "decoder"), ("enc", "encoder")):
    a, ta, la = w("va_%s.h5" % half); b, _, _ = w("vb_%s.h5" % half); c, _, _ = w("vc_%s.h5" % half)
    if ta != typ or la != 4: print(half, "type/latent", ta, la); ok = False
    # the resumed run continued on 1 rank: equal to the 2-rank run up to the reduction rounding of 30 steps
    for name, x in (("1 rank", b), ("resumed", c)):
        rel = np.abs(a - x).max() / np.abs(a).max()
        if not rel < 1e-3: print(half, name, "differs by", rel); ok = False
curve = np.loadtxt("va_dec.h5.curve.tsv", skiprows=1)
if not curve[-1, 3] < 0.9 * curve[0, 3]: print("VAE validation loss did not fall:", curve[:, 3]); ok = False
print("VAE validation loss", curve[:, 3])
sys.exit(0 if ok else 1)
PY
fi
$mpi -n 2 "$bin/daisi-train" -daisi_quiet -train_model vae -train_eval va_enc.h5 -train_eval_decoder va_dec.h5 -train_data va.h5 -train_eval_samples 16 -train_eval_output vsp.tsv > vev.log 2>&1 && [ "$(grep -c 'eval |  *[01]  ' vev.log)" -eq 2 ] && pass "VAE reconstruction table per level" || fail "VAE evaluation ($(tail -2 vev.log))"
if $py -c "import numpy" 2>/dev/null; then
  # the spectra by level: the error spectrum sums to the printed MSE (Parseval), the state
  # spectrum to the states' mean square, and the reconstruction has power where the states have
  $py - <<'PY' && pass "VAE spectra: error spectrum sums to the RMSE^2 on every level" || fail "VAE spectra (see above)"
import numpy as np, re, sys
t = np.loadtxt("vsp.tsv", skiprows=1)
rows = [l.split() for l in open("vev.log") if re.match(r"eval \|\s+[01]\s", l)]
ok = t.shape[1] == 1 + 3 * len(rows) == 7
for l, r in enumerate(rows):
    rmse, err = float(r[3]), t[:, 3 + 3 * l].sum()
    if not abs(err - rmse**2) <= 1e-3 * rmse**2: print("level", l, "error power", err, "RMSE^2", rmse**2); ok = False
    if not ((t[1:, 1 + 3 * l] > 0).all() and (t[1:, 2 + 3 * l] > 0).all()): print("level", l, "empty spectrum"); ok = False
sys.exit(0 if ok else 1)
PY
fi

# 4. bad input: non-zero exit, the culprit named, nothing overwritten
cp a.h5 keep.h5
bad() { # name, expected message (grep -E), args...
  local name=$1 msg=$2
  shift 2
  rm -f out.h5 out.h5.curve.tsv
  $mpi -n 2 "$bin/daisi-train" -daisi_quiet "$@" > bad.log 2>&1
  local rc=$?
  if [ $rc -ne 0 ] && [ $rc -ne 3 ] && grep -Eq -- "$msg" bad.log && [ ! -e out.h5 ]; then pass "bad input: $name"; else
    fail "bad input: $name (rc=$rc, expected /$msg/; got: $(grep -m2 'ERROR: [a-z-]' bad.log))"; fi
}
bad "no training data" "-train_data FILE" -train_val va.h5 -train_output out.h5
bad "no validation data" "-train_val FILE" -train_data tr.h5 -train_output out.h5
bad "missing training file" "no_such.h5" -train_data no_such.h5 -train_val va.h5 -train_output out.h5
bad "validation grid differs" "validation file n64.h5 holds 2 x 64 x 64 states" $net -train_data tr.h5 -train_val n64.h5 -train_output out.h5
bad "unknown option" "unknown option.*-train_stepz" $net -train_data tr.h5 -train_val va.h5 -train_output out.h5 -train_stepz 3
bad "impossible warm-up" "-train_warmup 100 must lie in" $net -train_data tr.h5 -train_val va.h5 -train_output out.h5 -train_steps 50 -train_warmup 100
bad "weights of another grid" "holds a network for a 2 x 32 x 32 .* state, the model grid is 2 x 64 x 64" -train_eval a.h5 -train_data n64.h5
bad "unwritable output" "cannot write network weight file no_dir/p.h5" $net -train_data tr.h5 -train_val va.h5 -train_output no_dir/p.h5 -train_steps 2 -train_warmup 1 -train_epoch_steps 1
printf 'not a checkpoint\n' > out.h5.chk
bad "VAE without an encoder file" "-train_model vae needs -train_encoder_output" -train_model vae -train_data tr.h5 -train_val va.h5 -train_output out.h5
bad "VAE evaluation without a decoder" "needs -train_eval_decoder" -train_model vae -train_eval va_enc.h5 -train_data va.h5
bad "decoder given as encoder" "va_dec.h5 holds a decoder network, not an encoder" -train_model vae -train_eval va_dec.h5 -train_eval_decoder va_dec.h5 -train_data va.h5
bad "unreadable checkpoint" "cannot open checkpoint out.h5.chk" $tr -train_output out.h5 -train_restart
$mpi -n 2 "$bin/daisi-train" $tr -train_output e.h5 -train_stop_at_step 20 > e.log 2>&1
cp e.h5.chk out.h5.chk
bad "checkpoint of other settings" "written with other training settings" $tr -train_batch 10 -train_output out.h5 -train_restart
cmp -s a.h5 keep.h5 && pass "earlier weights untouched by the failures" || fail "weights changed"
if $py -c "import h5py, numpy" 2>/dev/null; then
  $py - <<'PY'
import h5py, numpy as np, shutil
shutil.copy("tr.h5", "nan.h5")
with h5py.File("nan.h5", "r+") as f:
    th = f["theta"]
    th[...] = np.nan
PY
  rm -f out.h5.chk
  bad "NaN training states" "nan.h5.*(NaN|finite)" $tr -train_data nan.h5 -train_output out.h5
fi
echo "$fails failure(s)"
[ "$fails" -eq 0 ]
