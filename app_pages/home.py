"""The landing page: what FashionSeg does, where to go, and what is ready to use."""

import streamlit as st

from fashionseg import __version__, settings
from fashionseg.app.resources import trained
from fashionseg.core.vocabulary import FASHIONSEG11

PAGES = [
    ("app_pages/segment.py", "Segment", ":material/photo_camera:",
     "Upload or photograph a person: clothing instances (Mask R-CNN) and the garment cutout (U-Net), timed live."),
    ("app_pages/annotate.py", "Annotate", ":material/draw:",
     "Import photos or the sample data, review the model's masks and the client's labels, export COCO."),
    ("app_pages/experiments.py", "Experiments", ":material/monitoring:",
     "Compare trained models by the thesis' metrics and TTO, per class and over training."),
    ("app_pages/errors.py", "Errors", ":material/error:",
     "Browse an evaluation's false positives, misses and confusions, photo by photo."),
]

st.title("FashionSeg")
st.caption(f"Fashion classification and segmentation · version {__version__}")
st.markdown(
    "Instance segmentation of clothing (Mask R-CNN) and garment cutouts (U-Net) "
    "on a CPU, evaluated with the metrics of the source thesis."
)

for column, (path, title, icon, text) in zip(st.columns(len(PAGES)), PAGES):
    with column.container(border=True):
        st.page_link(path, label=title, icon=icon)
        st.caption(text)

left, right = st.columns(2)
with left:
    st.subheader("Classes", anchor=False)
    st.markdown("\n".join(f"- {name}" for name in FASHIONSEG11.names))
    st.page_link("app_pages/classes.py", label="Vocabularies and label mappings", icon=":material/list:")
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
