"""The app's shared Streamlit widgets and cached resources (the pages live in ``pages/``).

Only the app imports this package: the rest of ``musicgen`` runs without Streamlit.
"""
