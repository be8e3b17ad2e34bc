"""End-to-end tests: the real `streamlit run` server driven by headless Chromium, as a person uses the page."""
