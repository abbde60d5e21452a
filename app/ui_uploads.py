"""Dashboard uploads: model files, profiles and measurement records parsed and validated from the
uploaded bytes (the client's file name is only ever shown, never a path), and this session's upload
folder.  An uploaded model also travels in the page's link, as compressed JSON (`model_token`), so a
shared link opens with it in a fresh session.  Pages reach them through `ui`."""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import re
import tempfile
import zlib
from pathlib import Path

import streamlit as st
import yaml
from ui_results import MARKDOWN_SPECIAL

from glamsim.config import (
    NAME_PATTERN,
    ConfigError,
    ModelConfig,
    load_model,
    model_presets,
    parse_json,
    parse_yaml,
    show,
    validate_as,
    validate_model,
)
from glamsim.profiles import ChipProfile, DatacenterProfile

UPLOAD_DIR_KEY = "profiles_dir"  # session: a temp folder with chips/ and datacenters/ uploaded this session
PROFILE_KINDS = {"chips": ChipProfile, "datacenters": DatacenterProfile}
PROFILE_MAX_BYTES = 256 * 1024  # a profile YAML (the built-in ones are 2-4 KiB)
MEASUREMENT_MAX_BYTES = 1024 * 1024  # a measurement JSON (glamsim writes 3-6 KiB)
MAX_UPLOADED_PROFILES = 50  # per kind and session: every page re-reads them on each render
MODEL_MAX_BYTES = 256 * 1024  # a model file: a config.json is 1-5 KiB, a preset YAML 1-3 KiB
MAX_UPLOADED_MODELS = 50  # per session, as profiles
MODELS = "models"  # the upload folder's subfolder of models (glamsim YAML, whatever the upload's format)
URL_MODELS = "models"  # query parameter: each uploaded model in use, as `model_token` text
URL_MODEL_MAX_CHARS = 8192  # one model in the link (compressed JSON; a config.json maps to about 600 chars)
URL_MODEL_MAX_BYTES = 64 * 1024  # ... once decompressed
UPLOAD_WIDGET_MB = 1  # what the browser lets through to these two uploaders (server.maxUploadSize caps all)


def profiles_dirs() -> tuple[str, ...]:
    """This session's uploaded-profile folder (for every `profiles_dirs=` argument), if any."""
    d = st.session_state.get(UPLOAD_DIR_KEY)
    return (d,) if d else ()


def upload_dir() -> Path:
    if UPLOAD_DIR_KEY not in st.session_state:
        root = Path(tempfile.mkdtemp(prefix="glamsim-profiles-"))
        for kind in ("chips", "datacenters", MODELS):
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


# ---- models: a Hugging Face config.json or a glamsim YAML, read by glamsim's own model reader ------


def _stem(client_name: str | None) -> str:
    """A model name from the client's file name: its stem, characters a name cannot hold as '-'
    ('config.json' alone names nothing: 'uploaded-model')."""
    stem = Path(str(client_name or "")).stem
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).lstrip("_.-")[:100]
    return stem if stem and stem != "config" and re.fullmatch(NAME_PATTERN, stem) else "uploaded-model"


def parse_model(data: bytes, client_name: str | None) -> ModelConfig:
    """An uploaded model file, validated from its bytes by the reader `glamsim count` uses
    (`glamsim.config.load_model`): a Hugging Face `config.json` (a `.json` name, or text that opens
    with '{') field by field through `glamsim.hf`, else a glamsim ModelConfig YAML.  Its name is the
    file's own (`name`, or `_name_or_path` of a config.json, else the uploaded file's stem); a name
    a preset has gets '-uploaded' after it.  One-line ConfigError naming the upload otherwise."""
    text, where = upload_text(data, client_name, MODEL_MAX_BYTES)
    is_json = str(client_name or "").lower().endswith(".json") or text.lstrip().startswith("{")
    with tempfile.TemporaryDirectory(dir=upload_dir()) as tmp:
        folder = Path(tmp) / _stem(client_name)  # a config.json without _name_or_path is named by its folder
        folder.mkdir()
        path = folder / ("config.json" if is_json else "model.yaml")
        path.write_text(text, encoding="utf-8")
        try:
            cfg = load_model(path)
        except ConfigError as err:  # the reader names the temporary path: name the upload instead
            raise ConfigError(" ".join(str(err).replace(str(path), where).split())) from None
    if cfg.name in model_presets():
        cfg = cfg.replace(name=f"{cfg.name}-uploaded"[:100])
    return cfg


def _model_path(name: str) -> Path:
    if not re.fullmatch(NAME_PATTERN, name):  # validation already refused it; never build a path from it
        raise ConfigError(f"name={show(name)}: letters, digits, '.', '_' and '-' only")
    root = upload_dir().resolve()
    (root / MODELS).mkdir(exist_ok=True)
    folder = (root / MODELS).resolve()
    path = (folder / f"{name}.yaml").resolve()
    if path.parent != folder or not path.is_relative_to(root):
        raise ConfigError(f"name={show(name)}: not a file name inside the upload folder")
    return path


def save_model(cfg: ModelConfig) -> Path:
    """Keep a validated model for this session as `<upload dir>/models/<name>.yaml` (glamsim's own
    fields, whatever the upload's format), where every page finds it; returns the path."""
    if cfg.name in model_presets():
        raise ConfigError(f"name={show(cfg.name)}: a preset has this name; give the model another")
    path = _model_path(cfg.name)
    present = {p.stem for p in path.parent.glob("*.yaml")}
    if cfg.name not in present and len(present) >= MAX_UPLOADED_MODELS:
        raise ConfigError(f"{cfg.name}: this session already has {len(present)} uploaded models, the most it keeps")
    tmp = path.parent / f".{cfg.name}.upload"  # not *.yaml: no page sees half a file
    tmp.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude_defaults=True), sort_keys=False), "utf-8")
    tmp.replace(path)
    return path


def uploaded_model_paths() -> dict[str, Path]:
    """This session's uploaded models: name -> file."""
    if not profiles_dirs():
        return {}
    folder = upload_dir() / MODELS
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def model_token(cfg: ModelConfig) -> str:
    """A model as link text: its non-default fields as JSON, zlib-compressed, URL-safe base64."""
    raw = json.dumps(cfg.model_dump(mode="json", exclude_defaults=True), separators=(",", ":"))
    return base64.urlsafe_b64encode(zlib.compress(raw.encode(), 9)).decode().rstrip("=")


def model_from_token(token: str) -> ModelConfig:
    """The model a link carries (`model_token`), checked as an upload is: its length, the compressed
    size, JSON with finite numbers, then the ModelConfig schema; a one-line ConfigError otherwise."""
    where = f"{URL_MODELS}= in the link"
    if not isinstance(token, str) or len(token) > URL_MODEL_MAX_CHARS:
        most = URL_MODEL_MAX_CHARS
        raise ConfigError(f"{where}: {len(str(token)):,} characters; a model in a link has at most {most:,}")
    try:
        packed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        unpack = zlib.decompressobj()
        raw = unpack.decompress(packed, URL_MODEL_MAX_BYTES + 1)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError, zlib.error) as err:  # UnicodeDecodeError is a ValueError
        why = err.__class__.__name__
        raise ConfigError(f"{where}: {show(token, 24)} is not a model glamsim wrote ({why})") from None
    if len(raw) > URL_MODEL_MAX_BYTES or unpack.unconsumed_tail:
        raise ConfigError(f"{where}: more than {URL_MODEL_MAX_BYTES:,} bytes once decompressed")
    data = parse_json(text, where)
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object of model fields, got {type(data).__name__}")
    return validate_model(data, where)
