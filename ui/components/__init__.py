"""Custom Streamlit components (`st.components.v2`) of the web app."""
