"""Streamlit-aware helpers shared by app.py and pages/ (core/ never imports these)."""
