#!/bin/bash
# A run killed right after its checkpoint and restarted, possibly on another rank count, must
# leave the same state file as an uninterrupted run, byte for byte; nothing may appear under
# the final name before the run completes. Usage: restart.sh <io_tool>
set -eu
tool=$1
run() { local np=$1; shift; "$MPIEXEC" --oversubscribe -n "$np" "$tool" -daisi_quiet "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

dir=restart_files
rm -rf "$dir" && mkdir "$dir"
# cases: ranks of the first run, ranks of the restarted run, grid options
cases=("2 3 -ny 10 -nx 12" "1 4 -ny 9 -nx 8 -nmember 3" "4 1 -ny 9 -nx 8" "3 2 -nlev 1 -ny 1 -nx 3 -L 0")
i=0
for c in "${cases[@]}"; do
  read -r np1 np2 opts <<< "$c"
  whole=$dir/whole$i.h5 cut=$dir/cut$i.h5
  # shellcheck disable=SC2086
  run "$np1" -mode write -file "$whole" -ntime 5 $opts
  # shellcheck disable=SC2086
  if run "$np1" -mode write -file "$cut" -ntime 5 -stop_after 1 $opts > "$dir/stop$i.log" 2>&1; then
    fail "case '$c': the interrupted run should have exited with an error status"
  fi
  grep -q "stopping after time index 1" "$dir/stop$i.log" || fail "case '$c': the first run failed before its planned stop: $(cat "$dir/stop$i.log")"
  [ ! -e "$cut" ] || fail "case '$c': $cut exists although the run was interrupted"
  [ -e "$cut.partial" ] || fail "case '$c': the interrupted run left no $cut.partial"
  # a second interruption on the restarted run, then the final restart
  # shellcheck disable=SC2086
  if run "$np2" -mode append -file "$cut" -ntime 5 -first 2 -stop_after 2 $opts > "$dir/stop$i.2.log" 2>&1; then
    fail "case '$c': the second interrupted run should have exited with an error status"
  fi
  grep -q "stopping after time index 2" "$dir/stop$i.2.log" || fail "case '$c': the restarted run failed before its planned stop: $(cat "$dir/stop$i.2.log")"
  [ ! -e "$cut" ] || fail "case '$c': $cut exists after the second interruption"
  # shellcheck disable=SC2086
  run "$np1" -mode append -file "$cut" -ntime 5 -first 3 $opts
  [ ! -e "$cut.partial" ] || fail "case '$c': $cut.partial still exists after completion"
  cmp "$whole" "$cut" || fail "case '$c': restarted file differs from the uninterrupted one"
  run "$np2" -mode check -file "$cut"
  i=$((i + 1))
done
rm -rf "$dir"
echo "restarted runs give identical files: OK"
