"""The Streamlit web app. Pages are thin: they call the `gas` core and render its answers."""
