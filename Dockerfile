# One container: every port of OMS (and, in broker mode, its bus worker).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OMS_HOST=0.0.0.0

WORKDIR /app
COPY setup.cfg pyproject.toml README.md wsgi.py ./
COPY oms ./oms
COPY migrations ./migrations
COPY config ./config
RUN pip install --no-cache-dir -e . && useradd --create-home oms && mkdir /data && chown oms /data
USER oms
WORKDIR /data

EXPOSE 3001 3002 3003 3004 3010 3011
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3010/readyz')"
# SIGTERM reaches `oms serve`, which stops gunicorn and the worker gracefully.
CMD ["sh", "-c", "oms db upgrade && exec oms serve"]
