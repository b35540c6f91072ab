"""Vocabularies and label mappings: what the models predict and how source labels map onto it."""

import pandas as pd
import streamlit as st

from fashionseg.core.mapping import BUILTIN_MAPPINGS, load_mapping, mapping_table
from fashionseg.core.vocabulary import BASE5, FASHIONSEG11, load_vocabulary

st.title("Classes and label mappings")

st.subheader("The 11 classes (thesis Table 5)")
classes = pd.DataFrame(FASHIONSEG11.coco_categories()).rename(columns={"id": "annotation id"})
classes["in base set"] = classes["name"].isin(BASE5.names)
st.table(classes, hide_index=True)

st.subheader("Label mappings")
name = st.selectbox(
    "Mapping",
    BUILTIN_MAPPINGS,
    format_func=lambda n: {
        "ccp": "CCP (59 labels)",
        "imaterialist": "iMaterialist / Fashionpedia (46)",
        "client": "Client (thesis Table 7)",
    }[n],
)
table = pd.DataFrame(mapping_table(load_mapping(name)))
show_dropped = st.toggle("Show dropped labels", value=True)
if not show_dropped:
    table = table[~table["dropped"]]
st.dataframe(table, hide_index=True)
st.caption(f"Edit fashionseg/data/mappings/{name}.yaml to change this mapping.")

with st.expander("Source vocabularies"):
    vocab = st.radio("Vocabulary", ["imaterialist46", "ccp59"], horizontal=True)
    st.dataframe(pd.DataFrame(load_vocabulary(vocab).coco_categories()), hide_index=True)
