"""The VAE Explorer page: explorer_app.py is its table of contents, this package its parts.

state.py declares every piece of session state; cache.py is the only door into vae_core's
compute; sidebar.py and views/ draw; figures.py builds pictures without Streamlit. Nothing
here imports torch: vae_core hands back numpy arrays.
"""
