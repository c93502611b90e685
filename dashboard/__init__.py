"""Streamlit dashboard over the gold Delta tables."""
