"""Streamlit-aware helpers shared by app.py and views/ (core/ never imports these)."""
