"""Streamlit code shared by the pages (widgets, caches, texts). Logic lives in :mod:`lmkviz`."""
