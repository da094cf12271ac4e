FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway gateway
COPY core core
COPY channels channels
COPY storage storage
COPY scheduler scheduler
COPY ai ai
COPY documents documents
COPY knowledge knowledge
RUN pip install --no-cache-dir -e . && mkdir /data && chown nobody /data
# Telegram media cache and the media-link signing key live here (a volume in compose.yaml).
ENV DATA_DIR=/data
USER nobody
EXPOSE 8000
CMD ["python", "-m", "gateway", "serve", "--host", "0.0.0.0"]
