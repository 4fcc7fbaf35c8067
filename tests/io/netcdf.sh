#!/bin/bash
# netCDF-4 readers see DAISI state files as documented (docs/file-formats.md): ncdump -h shows
# the variables, dimensions and attributes; xarray and netCDF4 read the same values as the
# formula that wrote them. Usage: netcdf.sh <io_tool> <check_netcdf.py>
set -eu
tool=$1 check=$2
py=${DAISI_PYTHON:-/usr/bin/python3}
run() { local np=$1; shift; "$MPIEXEC" --oversubscribe -n "$np" "$tool" -daisi_quiet "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v ncdump > /dev/null || fail "ncdump not found: apt-get install -y netcdf-bin"

dir=netcdf_files
rm -rf "$dir" && mkdir "$dir"
run 3 -mode write -file "$dir/state.h5" -ntime 3 -ny 10 -nx 12
run 2 -mode write -file "$dir/ensemble.h5" -ntime 2 -nmember 3 -ny 9 -nx 8

ncdump -h "$dir/state.h5" > "$dir/state.cdl" || fail "ncdump cannot read $dir/state.h5"
cat "$dir/state.cdl"
for want in 'time = 3 ;' 'level = 2 ;' 'y = 10 ;' 'x = 12 ;' \
            'double time(time) ;' 'int level(level) ;' 'double y(y) ;' 'double x(x) ;' \
            'double theta(time, level, y, x) ;' 'theta:units = "K" ;' 'time:units = "s" ;' \
            'x:units = "m" ;' 'y:units = "m" ;' 'theta:long_name = "potential temperature" ;' \
            ':model = "sqg" ;' ':N = 10. ;' ':dt = 1200. ;' ':L = 20000000. ;'; do
  grep -qF -- "$want" "$dir/state.cdl" || fail "ncdump -h of state.h5 lacks: $want"
done
ncdump -v time "$dir/state.h5" | grep -qF 'time = 0, 10800, 21600 ;' || fail "ncdump reads wrong times"
ncdump -h "$dir/ensemble.h5" > "$dir/ensemble.cdl" || fail "ncdump cannot read $dir/ensemble.h5"
for want in 'member = 3 ;' 'int member(member) ;' 'double theta(time, member, level, y, x) ;' ':daisi_file = "ensemble" ;'; do
  grep -qF -- "$want" "$dir/ensemble.cdl" || fail "ncdump -h of ensemble.h5 lacks: $want"
done

"$py" "$check" "$dir/state.h5" "$dir/ensemble.h5"
rm -rf "$dir"
echo "netCDF readers: OK"
