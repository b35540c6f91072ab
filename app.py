"""FashionSeg's Streamlit app: the page router. Start it with ./run.sh app."""

import streamlit as st

st.set_page_config(page_title="FashionSeg", page_icon=":material/checkroom:", layout="wide")

navigation = st.navigation(
    [
        st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("app_pages/segment.py", title="Segment", icon=":material/photo_camera:"),
        st.Page("app_pages/annotate.py", title="Annotate", icon=":material/draw:"),
        st.Page("app_pages/experiments.py", title="Experiments", icon=":material/monitoring:"),
        st.Page("app_pages/errors.py", title="Errors", icon=":material/error:"),
        st.Page("app_pages/classes.py", title="Classes", icon=":material/list:"),
    ]
)
navigation.run()
