"""FashionSeg's Streamlit app: the page router. Start it with ./run.sh app."""

import streamlit as st

from fashionseg.app.pages import PAGES

st.set_page_config(page_title="FashionSeg", page_icon=":material/checkroom:", layout="wide")

navigation = st.navigation([st.Page(p.path, title=p.title, icon=p.icon, default=p.title == "Home") for p in PAGES])
navigation.run()
