"""Write a run's ``run.h5`` with h5py: tables under ``/user/heralder``, Photon-HDF5 with tags.

Rows are buffered per table as they come (a shot's joined per-pulse rows as one bytes object, a
herald as a tuple) and appended to resizable, chunked 1-D datasets in whole chunks, columns split
once per chunk, not per shot; so the cost per pulse is a few memory copies. Every table's datasets
are created with the first record, and the last, partial chunks are written at the end. The file
is written under ``run.h5.partial`` and becomes ``run.h5`` only in :meth:`H5RunFile.close`, once
every table is checked complete; a crash leaves the partial file, which
:mod:`heralder.storage.recover` replaces by rebuilding from the journal.

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
from h5py import h5d, h5p, h5s, h5t

from heralder.errors import DataLossError
from heralder.storage.schema import herald_row, record_rows
from heralder.storage.tables import (
    PULSE_ROW_DTYPE,
    PULSE_ROW_TABLES,
    SHOT_TABLES,
    TABLES,
    ShotTables,
    table_dtype,
)

__all__ = ["FINAL_NAME", "PARTIAL_NAME", "USER_GROUP", "H5RunFile"]

FINAL_NAME = "run.h5"
PARTIAL_NAME = "run.h5.partial"
USER_GROUP = "user/heralder"
_CHUNK_ROWS = 8192  # rows per chunk of the per-pulse tables (and Photon-HDF5)
_SMALL_CHUNK_ROWS = 1024  # rows per chunk of the other tables (a row per shot or fewer)
_ROWS = "pulses,decisions,posterior"  # the buffer of the joined per-pulse rows

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
    """Buffer the rows of one table and write them to its column datasets chunk by chunk.

    Rows arrive as packed bytes (``dtype`` without objects) or as row tuples (``dtype`` with
    string columns). A flush builds one structured array of the waiting rows and writes each
    numeric column as whole raw chunks (``write_direct_chunk``: no selection, conversion or
    chunk read-back; the last chunk of a final flush is padded past the dataset's end), each
    string column by an ordinary write.

    Parameters
    ----------
    datasets
        Field of ``dtype`` -> its dataset (chunks of ``chunk_rows`` rows).
    dtype
        The structured dtype of a row.
    chunk_rows, flush_rows
        Rows per chunk; write the whole chunks once this many rows wait.
    """

    def __init__(self, datasets: dict[str, h5py.Dataset], dtype: np.dtype, chunk_rows: int,
                 flush_rows: int) -> None:
        self.datasets, self.dtype = datasets, dtype
        self.chunk_rows, self.flush_rows = chunk_rows, max(flush_rows, chunk_rows)
        self._tuples = dtype.hasobject
        self.pending: list[Any] = []  # bytes-like parts of packed rows, or row tuples
        self.pending_rows = 0  # rows not yet in whole written chunks (after the first `rows`)
        self.rows = 0  # rows written in whole chunks
        self.written = True  # every pending row is in the datasets (a final flush wrote them)

    @property
    def total(self) -> int:
        """Return the number of rows added."""
        return self.rows + self.pending_rows

    def add(self, rows: Any, n: int) -> None:
        """Queue ``n`` rows: packed bytes (kept, not copied) or a list of row tuples."""
        if n:
            if self._tuples:
                self.pending += rows
            else:
                self.pending.append(rows)
            self.pending_rows += n
            self.written = False
            if self.pending_rows >= self.flush_rows:
                self.flush()

    def flush(self, whole_chunks: bool = True) -> None:
        """Write the waiting rows: only whole chunks, or everything (the last chunk partial).

        The rows of a partial last chunk stay waiting: a later flush writes that chunk again,
        whole or with more rows.
        """
        size = self.chunk_rows
        n = self.pending_rows - self.pending_rows % size
        if (whole_chunks and not n) or (not whole_chunks and self.written):
            return
        stop = self.rows + (n if whole_chunks else self.pending_rows)
        count = stop - self.rows
        rows = self._rows()
        for field, dataset in self.datasets.items():
            dataset.id.set_extent((stop,))
            if self.dtype[field].hasobject:
                dataset[self.rows:stop] = rows[field][:count]
                continue
            column = rows[field][:count]
            if count % size:  # the last chunk padded: only whole raw chunks are written
                column = np.concatenate((column, np.zeros(size - count % size, column.dtype)))
            column = np.ascontiguousarray(column)
            for at in range(0, count, size):
                dataset.id.write_direct_chunk((self.rows + at,), column[at:at + size])
        rest = rows[n:]
        self.pending = rest.tolist() if self._tuples else [rest.tobytes()]
        self.rows, self.pending_rows = self.rows + n, self.pending_rows - n
        self.written = not whole_chunks or not self.pending_rows

    def _rows(self) -> np.ndarray:
        """Return the waiting rows as one structured array."""
        if self._tuples:
            return np.array(self.pending, self.dtype)
        return np.frombuffer(b"".join(self.pending), self.dtype)


def _chunk_rows(table: str) -> int:
    """Return the rows per chunk of ``table``: a run's few herald, event and snapshot rows
    take small chunks (and a small buffer)."""
    return _CHUNK_ROWS if table in SHOT_TABLES else _SMALL_CHUNK_ROWS


def _string(value: str) -> np.bytes_:
    return np.bytes_(value.encode())


class H5RunFile:
    """Write the records of one run into ``run_dir/run.h5.partial``; rename on :meth:`close`.

    Parameters
    ----------
    run_dir
        The run directory.
    flush_rows
        Append a per-pulse table's buffered rows once this many are waiting (bounds memory;
        whole chunks of :data:`_CHUNK_ROWS` rows are written; fewer, larger writes cost less).
        The other tables write each chunk once it is full.
    """

    def __init__(self, run_dir: str | Path, *, flush_rows: int = _CHUNK_ROWS) -> None:
        self.run_dir = Path(run_dir)
        self.partial_path = self.run_dir / PARTIAL_NAME
        self.final_path = self.run_dir / FINAL_NAME
        self.flush_rows = flush_rows
        # No chunk cache: rows arrive in whole chunks, and with a cache HDF5 kept every written
        # chunk in memory (RSS grew with the run). HDF5 1.10's chunk index (an extensible array
        # for one unlimited dimension; files need HDF5 >= 1.10 to read): the old B-tree index
        # kept growing in the metadata cache, 1.5 MiB more RSS per 1e6 pulses.
        self._file = h5py.File(self.partial_path, "w", rdcc_nbytes=0, libver=("v110", "latest"))
        self._user = self._file.require_group(USER_GROUP)
        self._buffers: dict[str, _TableBuffer] = {}  # table (_ROWS: the joined rows) -> buffer
        self._has_tags = False
        self._header: dict[str, Any] = {}
        self._end: dict[str, Any] = {}
        self.shots = 0

    # ----------------------------------------------------------------------------------------
    def add(self, record: dict[str, Any]) -> None:
        """Add one record (any kind of :mod:`heralder.storage.schema`).

        Raises
        ------
        ValueError
            If a shot's tables or herald are not valid.
        """
        if not self._buffers:
            self._create_tables()
        kind, buffers = record["type"], self._buffers
        if kind == "shot":  # the hot path: a few calls per shot, the rows as they came
            tables = ShotTables.of(record["tables"])
            row = herald_row(record["herald"])
            self.shots += 1
            buffers[_ROWS].add(tables.rows, tables.n_pulses)
            for name, block in tables.blocks.items():
                buffers[name].add(block, len(block))
            buffers["heralds"].add([row], 1)
            return
        if kind == "run":
            self._write_header(record)
        elif kind == "end":
            self._end = dict(record)
        for table, rows in record_rows(record).items():
            buffers[table].add(rows, len(rows))

    def flush(self, *, everything: bool = False) -> None:
        """Append the buffered whole chunks (or every row) and flush the HDF5 file."""
        for buffer in self._buffers.values():
            buffer.flush(whole_chunks=not everything)
        self._file.flush()

    def close(self, *, recovered: bool = False) -> Path:
        """Finish the file, rename it to ``run.h5`` and return the final path."""
        if not self._file:
            return self.final_path
        if not self._buffers:  # every table exists, even if empty, so readers need no checks
            self._create_tables()
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

    def _create_tables(self) -> None:
        """Create every table's column datasets (empty, resizable) and their buffers.

        Through h5py's low-level API: its ``create_dataset`` costs ~3× more per dataset, and a
        run creates ~60 of them.
        """
        space = h5s.create_simple((0,), (h5s.UNLIMITED,))

        def datasets(table: str, fields: dict[str, str]) -> dict[str, h5py.Dataset]:
            group, dtype = self._user.require_group(table), table_dtype(table)
            dcpl = h5p.create(h5p.DATASET_CREATE)
            dcpl.set_chunk((_chunk_rows(table),))
            out = {}
            for column, field in fields.items():
                file_type = h5t.py_create(h5py.string_dtype() if dtype[column].hasobject
                                          else dtype[column], logical=True)
                out[field] = h5py.Dataset(h5d.create(group.id, column.encode(), file_type, space,
                                                     dcpl=dcpl))
            return out

        joined = {}
        for table in PULSE_ROW_TABLES:
            joined |= datasets(table, {column: f"{table}/{column}" for column in TABLES[table]})
        self._buffers[_ROWS] = _TableBuffer(joined, PULSE_ROW_DTYPE, _CHUNK_ROWS, self.flush_rows)
        for table in TABLES:
            if table not in PULSE_ROW_TABLES:
                size = _chunk_rows(table)
                self._buffers[table] = _TableBuffer(
                    datasets(table, {column: column for column in TABLES[table]}),
                    table_dtype(table), size, self.flush_rows if size == _CHUNK_ROWS else size)

    def _check_complete(self) -> None:
        """Raise DataLossError (leaving the partial file) unless every table is rectangular."""
        for name, buffer in self._buffers.items():
            lengths = {len(d) for d in buffer.datasets.values()}
            if lengths != {buffer.total} or not buffer.written:
                raise DataLossError(f"{self.partial_path}: table {name} is incomplete")
        if self._has_tags and len(self._file["photon_data/timestamps"]) != \
                self._buffers["photons"].total:
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
