"""The landing page: what FashionSeg does and what is ready to use."""

import streamlit as st

from fashionseg import __version__, settings
from fashionseg.vocabulary import FASHIONSEG11

st.title("FashionSeg")
st.caption(f"Fashion classification and segmentation · version {__version__}")

st.markdown(
    "Instance segmentation of clothing (Mask R-CNN) and garment cutouts (U-Net) "
    "on a CPU, evaluated with the metrics of the source thesis."
)

left, right = st.columns(2)
with left:
    st.subheader("Classes")
    st.write(", ".join(FASHIONSEG11.names))
    st.page_link("pages/classes.py", label="Vocabularies and label mappings", icon=":material/list:")
with right:
    st.subheader("Status")
    ccp = settings.ccp_root()
    if ccp.is_dir():
        st.success(f"CCP data found at {ccp}")
    else:
        st.warning(f"No CCP data at {ccp}; set FASHIONSEG_CCP_ROOT")
    models = settings.trained_models()
    if models:
        st.success(f"{len(models)} trained model(s) in {settings.weights_dir()}")
    else:
        st.info(
            f"No trained model in {settings.weights_dir()} yet. Segmentation pages stay off until one is "
            "trained: this app never shows the output of untrained weights."
        )
