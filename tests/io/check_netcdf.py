"""Reads DAISI state files written by io_tool with xarray (netCDF4 engine) and h5py and checks
shapes, coordinates, attributes and every value against the formula io_tool wrote.
Usage: check_netcdf.py STATE_FILE ENSEMBLE_FILE   (Debian: python3-xarray python3-netcdf4 python3-h5py)"""
import sys

try:
    import h5py
    import numpy as np
    import xarray as xr
except ImportError as e:  # a missing reader is a failure, not a skip
    sys.exit(f"FAIL: {e}: apt-get install -y python3-xarray python3-netcdf4 python3-h5py")


def expected(ntime, nmember, nlev, ny, nx):
    k, m, l, y, x = np.meshgrid(np.arange(ntime), np.arange(max(nmember, 1)), np.arange(nlev),
                                np.arange(ny), np.arange(nx), indexing="ij")
    v = ((((k * 10 + m) * 10 + l) * 100 + y) * 100 + x) * 0.25
    return v if nmember else v[:, 0]


def check(path, nmember):
    ds = xr.open_dataset(path, engine="netcdf4")
    dims = ("time", "member", "level", "y", "x") if nmember else ("time", "level", "y", "x")
    theta = ds["theta"]
    assert theta.dims == dims, f"{path}: theta dims {theta.dims}, expected {dims}"
    assert theta.dtype == np.float64, f"{path}: theta is {theta.dtype}"
    assert theta.attrs["units"] == "K", f"{path}: theta units {theta.attrs.get('units')}"
    assert ds["time"].attrs["units"] == "s" and ds["x"].attrs["units"] == "m" and ds["y"].attrs["units"] == "m"
    ntime, nlev, ny, nx = ds.sizes["time"], ds.sizes["level"], ds.sizes["y"], ds.sizes["x"]
    assert np.array_equal(ds["time"].values, 10800.0 * np.arange(ntime)), f"{path}: times {ds['time'].values}"
    assert np.array_equal(ds["level"].values, np.arange(nlev))
    L = ds.attrs["L"]
    assert np.array_equal(ds["x"].values, L * np.arange(nx) / nx), f"{path}: x {ds['x'].values}"
    assert ds["x"].attrs["domain_length"] == L
    assert ds.attrs["model"] == "sqg" and ds.attrs["dt"] == 1200.0 and ds.attrs["N"] == ny
    want = expected(ntime, nmember, nlev, ny, nx)
    assert np.array_equal(theta.values, want), f"{path}: values differ from the formula"
    ds.close()
    # plain HDF5 view: dimension scales attached in order, no time stamps needed by readers
    with h5py.File(path, "r") as f:
        scales = [f["theta"].dims[i][0].name for i in range(len(dims))]
        assert scales == ["/" + d for d in dims], f"{path}: dimension scales {scales}"
        assert np.array_equal(f["theta"][...], want)
    print(f"{path}: xarray and h5py read {dims} = {want.shape} as written")


check(sys.argv[1], 0)
check(sys.argv[2], 3)
