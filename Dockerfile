# digitviz: one Streamlit server. compose.yaml runs two of these behind nginx, with PostgreSQL for the
# class board; deploy/README.md says how.
#
#   docker build -t digitviz . && docker run -p 8501:8501 digitviz
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The pinned stack first, so that editing the app doesn't reinstall it. torch==2.14.1 from PyPI brings
# its CUDA libraries (several GB); the page trains on the CPU.
COPY requirements.txt .
RUN pip install -r requirements.txt

# Only what the page needs: the app, its package (with the bundled digits) and its server settings
# (.streamlit/config.toml: XSRF on, 10 MB uploads). No secrets.toml: the board's URL and the teacher's
# passphrase come from the environment (DIGITVIZ_BOARD_URL, DIGITVIZ_BOARD_PASSPHRASE).
COPY streamlit_app.py ./
COPY digitviz/ digitviz/
COPY .streamlit/config.toml .streamlit/config.toml

RUN useradd --create-home --uid 10001 digitviz
USER digitviz
# Without DIGITVIZ_BOARD_URL the board is SQLite in ~/.digitviz: this one server's own, gone with the container.

EXPOSE 8501
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health').read()==b'ok' else 1)"
CMD ["streamlit", "run", "streamlit_app.py", "--server.address", "0.0.0.0", "--server.port", "8501"]
