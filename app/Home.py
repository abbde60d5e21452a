"""glamsim dashboard (placeholder until the dashboard issue lands)."""

import streamlit as st

from glamsim.accounting import published_deltas
from glamsim.config import model_presets

st.set_page_config(page_title="glamsim", layout="wide")
st.title("glamsim")
st.write("What does a Mixture-of-Experts language model really cost to train and serve, next to a dense one?")
st.dataframe([published_deltas(c) for c in model_presets().values()])
