"""Profiles: the chips and datacenters behind every estimate, with sources; upload your own for this session."""

import pandas as pd
import streamlit as st
import ui

from glamsim.config import ConfigError, data_dir
from glamsim.profiles import Spec

ui.page(
    "Profiles",
    "Every hardware and datacenter figure the estimates use, with the publication it comes from. Upload "
    "your own chip or datacenter as YAML (same fields as the built-in files below): once it validates it "
    "appears in the chip and datacenter menus of every page until you close this browser tab.",
)


TEXT_FIELDS = ("vendor", "default_dtype", "kind", "region", "provider")  # shown next to the figures


def summary(kind: str, profs: dict, uploaded: set) -> pd.DataFrame:
    """One row per profile: each figure's value (sources are in the detail view below)."""
    rows = []
    for p in profs.values():
        row = {"name": p.name, "file": p.origin + (" (uploaded)" if p.name in uploaded else "")}
        row |= {
            f: (v.value if isinstance(v, Spec) else v)
            for f, v in p
            if f not in ("name", "description") and (isinstance(v, Spec) or f in TEXT_FIELDS)
        }
        rows.append(row)
    return pd.DataFrame(rows)


def detail(prof) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"field": f, "value": v.value, "source": v.source, "date": v.date, "note": v.note}
            for f, v in prof
            if isinstance(v, Spec)
        ]
    )


uploaded = {
    kind: {p.stem for p in (ui.upload_dir() / kind).glob("*.yaml")} if ui.profiles_dirs() else set()
    for kind in ui.PROFILE_KINDS
}

with st.container(border=True):
    st.subheader("Upload a profile (this session only)")
    kind = ui.radio(
        "Kind",
        list(ui.PROFILE_KINDS),
        "pr_kind",
        horizontal=True,
        format_func=lambda k: {"chips": "chip", "datacenters": "datacenter"}[k],
    )
    up = st.file_uploader(
        "Profile YAML",
        type=["yaml", "yml"],
        key="pr_upload",
        **ui.uploader_limit(),
        help="Start from a built-in file: every figure is {value, source, date}. "
        f"At most {ui.PROFILE_MAX_BYTES // 1024} KiB.",
    )
    if up is not None:  # parsed from the bytes; saved under the profile's own (validated) name
        try:
            prof, text = ui.parse_profile(kind, up.getvalue(), up.name)
            ui.save_profile(kind, prof, text)
        except ConfigError as err:
            ui.show_error(err)
        else:
            uploaded[kind].add(prof.name)
            st.success(
                f"{ui.shown_name(up.name)}: {kind[:-1]} '{prof.name}' added for this session; pick it on any page."
            )

with st.container(border=True):
    st.subheader("Upload a model (this session only)")
    ui.model_upload("pr_model_file")  # a config.json here is a model, never silently ignored
    st.caption("A Hugging Face config.json or a glamsim model YAML: it joins the model menus of every page.")

for kind, title in (("chips", "Chips"), ("datacenters", "Datacenters")):
    st.subheader(title)
    profs = ui.profiles(kind)
    ui.show_table(summary(kind, profs, uploaded[kind]), f"pr_{kind}")
    name = ui.select(f"Sources of one {kind[:-1]}", list(profs), f"pr_pick_{kind}")
    st.caption(profs[name].description)
    ui.show_table(detail(profs[name]), f"pr_detail_{kind}", wrap=True)
    builtin = data_dir("hardware_profiles") / kind / profs[name].origin
    if name not in uploaded[kind] and builtin.is_file():
        st.download_button(
            f"Download {profs[name].origin} (a template for your own)",
            builtin.read_text(),
            profs[name].origin,
            "application/yaml",
            key=f"pr_template_{kind}",
        )
