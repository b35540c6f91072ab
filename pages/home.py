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
    for kind, label in (("unet", "Garment cutout (U-Net)"), ("maskrcnn", "Instance segmentation (Mask R-CNN)")):
        model = settings.default_weights(kind)
        if model is not None and (model / "config.json").is_file():
            st.success(f"{label}: model {model.name}")
        else:
            st.info(f"{label}: no trained model yet. This app never shows the output of untrained weights.")
