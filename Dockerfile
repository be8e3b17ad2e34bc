# digitviz: one Streamlit server. compose.yaml runs two of these behind nginx, with PostgreSQL for the
# class board; deploy/README.md says how.
#
#   DOCKER_BUILDKIT=1 docker build -t digitviz . && docker run -p 8501:8501 digitviz
#
# Build arguments (all optional):
#   PYTHON_IMAGE     the base image; any Debian-like image with python3 (3.11) and its venv module
#   TORCH_INDEX_URL  where torch and torchvision come from, e.g. https://download.pytorch.org/whl/cpu for a
#                    CPU-only image without the CUDA libraries (not tested here: see deploy/README.md)
#   PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS   pip's own settings, for a mirror (unset: PyPI)
# A school behind a TLS-inspecting proxy passes its CA bundle as a build secret, which is not kept in the image:
#   docker build --secret id=pip_cert,src=/etc/ssl/certs/ca-certificates.crt -t digitviz .
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

# MALLOC_ARENA_MAX: every script run is a thread, and glibc gives threads arenas of their own (8 per core) that keep
# what they held; with 2, a server that 200 sessions left is 11-13 MB larger, not 17-43 MB (tests/system/test_faults.py)
ENV PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

WORKDIR /app

# The pinned stack first, so that editing the app doesn't reinstall it. torch==2.14.1 from PyPI brings
# its CUDA libraries (several GB); the page trains on the CPU. A venv, because Debian's own python3 refuses
# pip installs into the system (PEP 668) and python:3.11-slim doesn't mind either way.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL=
ARG PIP_FIND_LINKS=
ARG TORCH_INDEX_URL=
COPY requirements.txt .
RUN --mount=type=secret,id=pip_cert \
    set -e; \
    if [ -f /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    python3 -m venv /opt/venv; \
    if [ -n "$TORCH_INDEX_URL" ]; then \
        pip install --index-url "$TORCH_INDEX_URL" $(grep -E '^torch(vision)?==' requirements.txt); \
    fi; \
    pip install -r requirements.txt

# Only what the page needs: the server and the page's script, its package (with the bundled digits) and its server settings
# (.streamlit/config.toml: XSRF on, 10 MB uploads). No secrets.toml: the board's URL and the teacher's
# passphrase come from the environment (DIGITVIZ_BOARD_URL, DIGITVIZ_BOARD_PASSPHRASE).
COPY streamlit_app.py page.py ./
COPY digitviz/ digitviz/
COPY .streamlit/config.toml .streamlit/config.toml

RUN useradd --create-home --uid 10001 digitviz
USER digitviz
# The carpool kernel compiled into the image (numba's cache in the user's home: /app is not theirs to write), so
# a container's first Train doesn't wait 15-25 s for LLVM.
ENV NUMBA_CACHE_DIR=/home/digitviz/.cache/numba
RUN python -c "from digitviz.carpool import warm_up; warm_up()"
# Without DIGITVIZ_BOARD_URL the board is SQLite in ~/.digitviz: this one server's own, gone with the container.

EXPOSE 8501
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health').read()==b'ok' else 1)"
CMD ["streamlit", "run", "streamlit_app.py", "--server.address", "0.0.0.0", "--server.port", "8501"]
