"""The landing page: what FashionSeg does, where to go, and what is ready to use."""

import streamlit as st

from fashionseg import __version__, settings
from fashionseg.app.pages import PAGES, page
from fashionseg.app.resources import trained
from fashionseg.core.vocabulary import FASHIONSEG11

st.title("FashionSeg")
st.caption(f"Fashion classification and segmentation · version {__version__}")
st.markdown(
    "Instance segmentation of clothing (Mask R-CNN) and garment cutouts (U-Net) "
    "on a CPU, evaluated with the metrics of the source thesis."
)

cards = [p for p in PAGES if p.on_home]
for column, card in zip(st.columns(len(cards)), cards):
    with column.container(border=True):
        st.page_link(card.path, label=card.title, icon=card.icon)
        st.caption(card.summary)

left, right = st.columns(2)
with left:
    st.subheader("Classes", anchor=False)
    st.markdown("\n".join(f"- {name}" for name in FASHIONSEG11.names))
    classes = page("Classes")
    st.page_link(classes.path, label=classes.summary, icon=classes.icon)
with right:
    st.subheader("Status", anchor=False)
    ccp = settings.ccp_root()
    if ccp.is_dir():
        st.success(f"CCP data found at {ccp}")
    else:
        st.warning(f"No CCP data at {ccp}; set FASHIONSEG_CCP_ROOT")
    for kind, label in (("unet", "Garment cutout (U-Net)"), ("maskrcnn", "Instance segmentation (Mask R-CNN)")):
        model = trained(kind)
        if model is not None:
            st.success(f"{label}: model {model.name}")
        else:
            st.info(f"{label}: no trained model yet. This app never shows the output of untrained weights.")
