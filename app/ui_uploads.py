"""Dashboard uploads: profiles and measurement records parsed and validated from the uploaded bytes
(the client's file name is only ever shown, never a path), and this session's upload folder.
Pages reach them through `ui`."""

from __future__ import annotations

import inspect
import re
import tempfile
from pathlib import Path

import streamlit as st
from ui_results import MARKDOWN_SPECIAL

from glamsim.config import NAME_PATTERN, ConfigError, parse_json, parse_yaml, show, validate_as
from glamsim.profiles import ChipProfile, DatacenterProfile

UPLOAD_DIR_KEY = "profiles_dir"  # session: a temp folder with chips/ and datacenters/ uploaded this session
PROFILE_KINDS = {"chips": ChipProfile, "datacenters": DatacenterProfile}
PROFILE_MAX_BYTES = 256 * 1024  # a profile YAML (the built-in ones are 2-4 KiB)
MEASUREMENT_MAX_BYTES = 1024 * 1024  # a measurement JSON (glamsim writes 3-6 KiB)
MAX_UPLOADED_PROFILES = 50  # per kind and session: every page re-reads them on each render
UPLOAD_WIDGET_MB = 1  # what the browser lets through to these two uploaders (server.maxUploadSize caps all)


def profiles_dirs() -> tuple[str, ...]:
    """This session's uploaded-profile folder (for every `profiles_dirs=` argument), if any."""
    d = st.session_state.get(UPLOAD_DIR_KEY)
    return (d,) if d else ()


def upload_dir() -> Path:
    if UPLOAD_DIR_KEY not in st.session_state:
        root = Path(tempfile.mkdtemp(prefix="glamsim-profiles-"))
        for kind in ("chips", "datacenters"):
            (root / kind).mkdir()
        st.session_state[UPLOAD_DIR_KEY] = str(root)
    return Path(st.session_state[UPLOAD_DIR_KEY])


def shown_name(client_name: str | None, limit: int = 80) -> str:
    """The client's file name as message text: printable, one line, at most `limit` characters, with
    Markdown's special characters escaped (st.error and st.success render Markdown)."""
    name = " ".join("".join(c if c.isprintable() else "?" for c in str(client_name or "")).split()) or "upload"
    if len(name) > limit:
        name = name[: limit - 1] + "…"
    return MARKDOWN_SPECIAL.sub(r"\\\1", name)


def uploader_limit() -> dict:
    """`max_upload_size=` (a browser-side cap) for st.file_uploader where this Streamlit has it (1.67 does)."""
    has = "max_upload_size" in inspect.signature(st.file_uploader).parameters
    return {"max_upload_size": UPLOAD_WIDGET_MB} if has else {}


def upload_text(data: bytes, client_name: str | None, max_bytes: int) -> tuple[str, str]:
    """The uploaded bytes as text and the name to show in messages, or a one-line ConfigError
    (too large, empty, not UTF-8).  A leading byte-order mark is dropped."""
    where = shown_name(client_name)
    if len(data) > max_bytes:
        most = f"{max_bytes / 2**20:g} MiB" if max_bytes >= 2**20 else f"{max_bytes / 2**10:g} KiB"
        raise ConfigError(f"{where}: {len(data):,} bytes; an upload here may have at most {max_bytes:,} ({most})")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{where}: not UTF-8 text (byte {err.start} is {data[err.start]:#04x})") from None
    if not text.strip():
        raise ConfigError(f"{where}: empty file")
    return text, where


def parse_profile(kind: str, data: bytes, client_name: str | None):
    """An uploaded chip or datacenter profile, validated from its bytes: (profile, YAML text)."""
    if kind not in PROFILE_KINDS:
        raise ConfigError(f"kind={show(kind)}: expected one of {', '.join(PROFILE_KINDS)}")
    text, where = upload_text(data, client_name, PROFILE_MAX_BYTES)
    return validate_as(PROFILE_KINDS[kind], parse_yaml(text, where), where), text


def save_profile(kind: str, prof, text: str) -> Path:
    """Write a validated profile as `<upload dir>/<kind>/<name>.yaml` (its name, never the client's file
    name), so that every page's registry finds it; returns the path."""
    if kind not in PROFILE_KINDS:
        raise ConfigError(f"kind={show(kind)}: expected one of {', '.join(PROFILE_KINDS)}")
    if not re.fullmatch(NAME_PATTERN, prof.name):  # validation already refused it; never build a path from it
        raise ConfigError(f"name={show(prof.name)}: letters, digits, '.', '_' and '-' only")
    root = upload_dir().resolve()
    folder = (root / kind).resolve()
    path = (folder / f"{prof.name}.yaml").resolve()
    if path.parent != folder or not path.is_relative_to(root):
        raise ConfigError(f"name={show(prof.name)}: not a file name inside the upload folder")
    present = {p.stem for p in folder.glob("*.yaml")}
    if prof.name not in present and len(present) >= MAX_UPLOADED_PROFILES:
        raise ConfigError(f"{prof.name}: this session already has {len(present)} uploaded {kind}, the most it keeps")
    tmp = folder / f".{prof.name}.upload"  # not *.yaml: the registry never sees half a file
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


RESULT_MAX_ROWS = 5_000_000  # rows of an uploaded results file (a study's default limit of scenarios)
RESULT_MAX_COLUMNS = 1_000  # a study writes about 150
RESULT_MAX_DECODED_BYTES = 1 << 30  # a results file in memory once decoded (Parquet compresses 100x and more)


def read_results(data: bytes, client_name: str | None):
    """An uploaded results.csv or results.parquet as a DataFrame, its rows, columns and decoded size
    checked from the file's own metadata (Parquet) or its lines (CSV) before it is decoded; a
    one-line ConfigError otherwise."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    where = shown_name(client_name)
    parquet = str(client_name or "").lower().endswith(".parquet")

    def check(what: str, got: int, most: int) -> None:
        if got > most:
            raise ConfigError(f"{where}: {got:,} {what}; a results upload may have at most {most:,}")

    try:
        if parquet:  # the footer says rows and columns; the decoded size is counted batch by batch
            pf = pq.ParquetFile(pa.BufferReader(data))
            check("rows", pf.metadata.num_rows, RESULT_MAX_ROWS)
            check("columns", pf.metadata.num_columns, RESULT_MAX_COLUMNS)
            batches, decoded = [], 0
            for batch in pf.iter_batches(batch_size=256):
                decoded += batch.nbytes
                check("bytes once decoded (or more)", decoded, RESULT_MAX_DECODED_BYTES)
                batches.append(batch)
            table = pa.Table.from_batches(batches, schema=pf.schema_arrow)
        else:
            check("rows", data.count(b"\n"), RESULT_MAX_ROWS)
            check("columns", data[: data.find(b"\n")].count(b",") + 1, RESULT_MAX_COLUMNS)
            table = pacsv.read_csv(pa.BufferReader(data))
            check("bytes once decoded", table.nbytes, RESULT_MAX_DECODED_BYTES)
        return table.to_pandas()
    except ConfigError:
        raise
    except (pa.ArrowException, ValueError, OSError, MemoryError) as err:
        raise ConfigError(f"{where}: cannot read results ({err.__class__.__name__}: {show(str(err), 120)})") from None


def parse_measurement(data: bytes, client_name: str | None):
    """An uploaded `glamsim measure` record, validated from its bytes (JSON, finite numbers, its schema)."""
    from glamsim.records import SCHEMA, Measurement

    text, where = upload_text(data, client_name, MEASUREMENT_MAX_BYTES)
    record = parse_json(text, f"{where}: measurement")
    if not isinstance(record, dict):
        raise ConfigError(f"{where}: expected a JSON object (a glamsim measurement), got {type(record).__name__}")
    if record.get("record_schema") != SCHEMA:
        raise ConfigError(
            f"{where}: record_schema={show(record.get('record_schema'))}: not a glamsim measurement "
            f"(expected {SCHEMA!r})"
        )
    return validate_as(Measurement, record, where)
