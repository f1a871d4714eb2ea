"""Write a run's ``run.h5`` with h5py: tables under ``/user/heralder``, Photon-HDF5 with tags.

Rows are buffered per table and appended to resizable, chunked 1-D datasets in whole chunks, so
the cost per pulse is a memory copy. The file is written under ``run.h5.partial`` and becomes
``run.h5`` only in :meth:`H5RunFile.close`, once every table is checked complete; a crash leaves
the partial file, which :mod:`heralder.storage.recover` replaces by rebuilding from the journal.

When the run has time tags the same file is also a Photon-HDF5 0.5 file of measurement type
``generic``: ``/photon_data/timestamps`` (int64 ps, clicks only), ``detectors`` (uint8, all 0),
``timestamps_specs/timestamps_unit`` = 1e-12, plus ``/setup`` and ``/identity``. Each
Photon-HDF5 field carries its official description as ``TITLE`` (what phconvert checks).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from heralder.errors import DataLossError
from heralder.storage.schema import TABLES, record_rows, table_dtype

__all__ = ["FINAL_NAME", "PARTIAL_NAME", "USER_GROUP", "H5RunFile"]

FINAL_NAME = "run.h5"
PARTIAL_NAME = "run.h5.partial"
USER_GROUP = "user/heralder"
_CHUNK_ROWS = 65536

# Photon-HDF5 0.5 field descriptions (the format's specification; phconvert compares TITLEs).
_PH_TITLES = {
    "/": "A file format for photon-counting detector based single-molecule spectroscopy "
         "experiments.",
    "acquisition_duration": "Measurement duration in seconds.",
    "description": "A user-defined comment describing the data file.",
    "photon_data": "Group containing arrays of photon-data.",
    "photon_data/timestamps": "Array of photon timestamps. Units specified in timestamps_units "
                              "(defined in timestamps_specs/).",
    "photon_data/detectors": "Array of pixel IDs for each timestamp.",
    "photon_data/timestamps_specs": "Specifications for timestamps.",
    "photon_data/timestamps_specs/timestamps_unit": "Value of 1-unit timestamp-increment in "
                                                    "seconds.",
    "photon_data/measurement_specs": "Metadata necessary for interpretation of the particular "
                                     "type of measurement.",
    "photon_data/measurement_specs/measurement_type": "Name of the measurement the data "
                                                      "represents.",
    "photon_data/measurement_specs/laser_repetition_rate": "Repetition rate of the pulsed "
                                                           "excitation laser (in Hertz).",
    "photon_data/measurement_specs/detectors_specs": "Mapping between the pixel IDs and the "
                                                     "detection channels.",
    "setup": "Information about the experimental setup.",
    "setup/laser_repetition_rates": "Repetition rates in Hz for each laser. CW lasers have a "
                                    "value of 0.",
    "setup/num_pixels": "Total number of detector pixels.",
    "setup/num_spots": 'Number of excitation (or detection) "spots" in the sample.',
    "setup/num_spectral_ch": "Number of distinct spectral bands which are acquired.",
    "setup/num_polarization_ch": "Number of distinct polarization states which are acquired.",
    "setup/num_split_ch": "Number of distinct detection channels detecting the same spectral "
                          "band and polarization. This value is > 1 when using a non-polarizing "
                          "beam splitter.",
    "setup/modulated_excitation": "True (i.e. 1) if there is any form of excitation modulation "
                                  "of excitation wavelength (as in us-ALEX or PAX) or "
                                  "polarization. This field is also True for pulse-interleaved "
                                  "excitation (PIE) or ns-ALEX measurements.",
    "setup/lifetime": "True (i.e. 1) if the measurement includes a nanotimes array of photon "
                      "arrival times with respect to a laser pulse (as in TCSPC measurements).",
    "setup/excitation_cw": "For each excitation source, this field indicates whether "
                           "excitation is continuous wave (CW), True (i.e. 1), or pulsed, False "
                           "(i.e. 0).",
    "setup/excitation_alternated": "New in version 0.5. Indicates whether each excitation "
                                   "source is alternated (True, or 1) or not alternated (False, "
                                   "or 0).",
    "identity": "Information about the Photon-HDF5 data file.",
    "identity/software": "Name of the software used to create the current Photon-HDF5 file.",
    "identity/software_version": "Version of the software used to create current the "
                                 "Photon-HDF5 file.",
    "identity/creation_time": "Creation time of the current Photon-HDF5 file.",
    "identity/format_name": "Name of the file format.",
    "identity/format_version": "Version for the Photon-HDF5 format.",
    "identity/format_url": "Official URL for the Photon-HDF5 format.",
    "identity/filename": "Original file name of the current Photon-HDF5 file (i.e. file name at "
                         "creation time).",
}


class _TableBuffer:
    """Collect rows of one table (structured arrays) and append them to its datasets in batches."""

    def __init__(self, group: h5py.Group, name: str) -> None:
        self.dtype = table_dtype(name)
        self.group = group.require_group(name)
        self.datasets: dict[str, h5py.Dataset] = {}
        for column, dtype in TABLES[name].items():
            h5_dtype = h5py.string_dtype() if dtype == np.dtype(object) else dtype
            if column in self.group:
                self.datasets[column] = self.group[column]
            else:
                self.datasets[column] = self.group.create_dataset(
                    column, shape=(0,), maxshape=(None,), dtype=h5_dtype,
                    chunks=(_CHUNK_ROWS if h5_dtype is dtype else 1024,))
        self.pending: list[np.ndarray] = []
        self.pending_rows = 0
        self.rows = len(next(iter(self.datasets.values())))

    def add(self, rows: np.ndarray) -> None:
        """Queue ``rows`` (a structured array of the table's dtype; kept, not copied)."""
        if len(rows):
            self.pending.append(rows)
            self.pending_rows += len(rows)

    def flush(self, whole_chunks: bool = True) -> None:
        """Append the buffered rows: only whole chunks, or everything (at the end).

        Writing whole chunks only keeps every write chunk-aligned, so HDF5 never reads a
        partial chunk back (there is no chunk cache to hold it).
        """
        n = self.pending_rows - self.pending_rows % _CHUNK_ROWS if whole_chunks \
            else self.pending_rows
        if not n:
            return
        columns = self._columns()
        start, stop = self.rows, self.rows + n
        for column, dataset in self.datasets.items():
            dataset.resize((stop,))
            dataset[start:stop] = columns[column][:n]
        rest = np.empty(self.pending_rows - n, self.dtype)
        for column, values in columns.items():
            rest[column] = values[n:]
        self.pending = [rest] if len(rest) else []
        self.rows, self.pending_rows = stop, self.pending_rows - n

    def _columns(self) -> dict[str, np.ndarray]:
        """Return the pending rows column by column."""
        if not self.dtype.hasobject:
            # Packed rows without objects are plain bytes: join them once and view the columns
            # (for parts of a few rows ~10x faster than gathering each column from every part).
            rows = np.frombuffer(b"".join([part.tobytes() for part in self.pending]), self.dtype)
            return {column: rows[column] for column in self.datasets}
        # one gather per column, straight from the pending parts into a contiguous array
        return {column: np.concatenate([part[column] for part in self.pending])
                for column in self.datasets}


def _string(value: str) -> np.bytes_:
    return np.bytes_(value.encode())


class H5RunFile:
    """Write the records of one run into ``run_dir/run.h5.partial``; rename on :meth:`close`.

    Parameters
    ----------
    run_dir
        The run directory.
    flush_rows
        Append a table's buffered rows once this many are waiting (bounds memory; whole chunks
        of ``_CHUNK_ROWS`` rows are written).
    """

    def __init__(self, run_dir: str | Path, *, flush_rows: int = _CHUNK_ROWS) -> None:
        self.run_dir = Path(run_dir)
        self.partial_path = self.run_dir / PARTIAL_NAME
        self.final_path = self.run_dir / FINAL_NAME
        self.flush_rows = flush_rows
        # No chunk cache: rows arrive in whole batches, and with a cache HDF5 kept every written
        # chunk in memory (RSS grew with the run); without it memory stays flat.
        self._file = h5py.File(self.partial_path, "w", rdcc_nbytes=0)
        self._user = self._file.require_group(USER_GROUP)
        self._tables: dict[str, _TableBuffer] = {}
        self._has_tags = False
        self._header: dict[str, Any] = {}
        self._end: dict[str, Any] = {}
        self.shots = 0

    # ----------------------------------------------------------------------------------------
    def add(self, record: dict[str, Any]) -> None:
        """Add one record (any kind of :mod:`heralder.storage.schema`)."""
        kind = record["type"]
        if kind == "run":
            self._write_header(record)
        elif kind == "end":
            self._end = dict(record)
        elif kind == "shot":
            self.shots += 1
        for table, rows in record_rows(record).items():
            buffer = self._tables.get(table)
            if buffer is None:
                buffer = self._tables[table] = _TableBuffer(self._user, table)
            buffer.add(rows)
            if buffer.pending_rows >= self.flush_rows:
                buffer.flush()

    def flush(self, *, everything: bool = False) -> None:
        """Append the buffered whole chunks (or every row) and flush the HDF5 file."""
        for buffer in self._tables.values():
            buffer.flush(whole_chunks=not everything)
        self._file.flush()

    def close(self, *, recovered: bool = False) -> Path:
        """Finish the file, rename it to ``run.h5`` and return the final path."""
        if not self._file:
            return self.final_path
        for table in TABLES:  # every table exists, even if empty, so readers need no checks
            if table not in self._tables:
                self._tables[table] = _TableBuffer(self._user, table)
        self.flush(everything=True)
        attrs = self._user.attrs
        attrs["complete"] = bool(self._end)
        attrs["recovered"] = recovered
        attrs["shots"] = self.shots
        attrs["end_json"] = json.dumps(self._end)
        if self._has_tags:
            self._write_photon_hdf5()
        self._check_complete()
        self._file.close()
        os.replace(self.partial_path, self.final_path)
        _fsync_dir(self.run_dir)
        return self.final_path

    def _check_complete(self) -> None:
        """Raise DataLossError (leaving the partial file) unless every table is rectangular."""
        for name, buffer in self._tables.items():
            lengths = {len(d) for d in buffer.datasets.values()}
            if lengths != {buffer.rows} or buffer.pending_rows:
                raise DataLossError(f"{self.partial_path}: table {name} is incomplete")
        if self._has_tags and len(self._file["photon_data/timestamps"]) != \
                self._tables["photons"].rows:
            raise DataLossError(f"{self.partial_path}: photon_data disagrees with the photons")

    def detach(self) -> None:
        """Flush and close the file under its partial name (its run was cut off: ``heralder
        recover`` rebuilds ``run.h5`` from the journal)."""
        if self._file:
            self.flush(everything=True)
            self._file.close()

    def abandon(self) -> None:
        """Close and delete the partial file (an existing ``run.h5`` is left alone)."""
        if self._file:
            self._file.close()
        self.partial_path.unlink(missing_ok=True)

    # ----------------------------------------------------------------------------------------
    def _write_header(self, record: dict[str, Any]) -> None:
        self._header = dict(record)
        self._has_tags = bool(record.get("has_tags"))
        attrs = self._user.attrs
        for key in ("run_uid", "created_utc", "mode", "heralder_version", "estimator_backend"):
            attrs[key] = str(record.get(key, ""))
        attrs["pulse_period_s"] = float(record.get("pulse_period_s", 0.0))
        attrs["has_tags"] = self._has_tags
        self._user.create_dataset("config_toml", data=record.get("config_toml", ""),
                                  dtype=h5py.string_dtype())
        for name in ("versions", "seeds"):
            group = self._user.require_group(name)
            for key, value in record.get(name, {}).items():
                group.attrs[key] = value
        if self._has_tags:
            photons = self._file.create_group("photon_data")
            photons.create_dataset("timestamps", shape=(0,), maxshape=(None,), dtype=np.int64,
                                   chunks=(_CHUNK_ROWS,))
            photons.create_dataset("detectors", shape=(0,), maxshape=(None,), dtype=np.uint8,
                                   chunks=(_CHUNK_ROWS,))

    def _write_photon_hdf5(self) -> None:
        """Fill the Photon-HDF5 fields from the ``photons`` table once it is complete."""
        f = self._file
        stamps = self._user["photons/timestamp_ps"]
        n = len(stamps)
        data = f["photon_data"]
        data["timestamps"].resize((n,))
        data["detectors"].resize((n,))
        for start in range(0, n, _CHUNK_ROWS * 16):  # copy in slices: memory stays flat
            stop = min(n, start + _CHUNK_ROWS * 16)
            data["timestamps"][start:stop] = stamps[start:stop]
        f.attrs["format_name"] = _string("Photon-HDF5")
        f.attrs["format_version"] = _string("0.5")
        f.attrs["TITLE"] = _string(_PH_TITLES["/"])
        duration = float(self._end.get("duration_s", 0.0))
        fields: dict[str, Any] = {
            "acquisition_duration": np.float64(duration),
            "description": _string(f"heralder run {self._header.get('run_uid', '')}: cavity-QED "
                                   "heralding, clicks of one detector (generic measurement)"),
            "photon_data/timestamps_specs/timestamps_unit": np.float64(1e-12),
            "photon_data/measurement_specs/measurement_type": _string("generic"),
            "setup/num_pixels": np.int64(1), "setup/num_spots": np.int64(1),
            "setup/num_spectral_ch": np.int64(1), "setup/num_polarization_ch": np.int64(1),
            "setup/num_split_ch": np.int64(1), "setup/modulated_excitation": np.int64(1),
            "setup/lifetime": np.int64(0),
            "setup/excitation_cw": np.array([0], dtype=np.int64),
            "setup/excitation_alternated": np.array([1], dtype=np.int64),
            "identity/software": _string("heralder"),
            "identity/software_version": _string(str(self._header.get("heralder_version", ""))),
            "identity/creation_time": _string(
                _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S")),
            "identity/format_name": _string("Photon-HDF5"),
            "identity/format_version": _string("0.5"),
            "identity/format_url": _string("http://photon-hdf5.org/"),
            "identity/filename": _string(FINAL_NAME),
        }
        rate_hz = 1.0 / float(self._header["pulse_period_s"])
        fields["photon_data/measurement_specs/laser_repetition_rate"] = np.float64(rate_hz)
        fields["setup/laser_repetition_rates"] = np.array([rate_hz])
        for path, value in fields.items():
            f.create_dataset(path, data=value)
        f.create_group("photon_data/measurement_specs/detectors_specs")
        for path, title in _PH_TITLES.items():
            if path != "/":
                f[path].attrs["TITLE"] = _string(title)
        for path, value in fields.items():
            # PyTables (phconvert's reader) returns Python scalars only for "python" flavour
            attrs = f[path].attrs
            attrs["CLASS"], attrs["VERSION"] = _string("ARRAY"), _string("2.4")
            attrs["FLAVOR"] = _string("python" if np.ndim(value) == 0 else "numpy")


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
