# mlops-mcp: the MCP server (streamable HTTP) and the serving gateway in one image.
#   docker build -t mlops-mcp .                        (all extras)
#   docker build --build-arg EXTRAS=serve -t mlops-gateway .   (gateway only: onnxruntime, no MLflow/GX/Feast)
# Run the server:  docker run -p 8765:8765 -e MLOPS_MCP_TOKEN=... -v mlops:/data mlops-mcp
# Run a gateway:   docker run -p 8780:8780 -e MLOPS_MCP_GATEWAY_TOKEN=... -e MLOPS_MCP_STORE_URL=postgresql+psycopg://... \
#                    mlops-mcp mlops-mcp gateway --host 0.0.0.0 --port 8780
# A non-loopback bind needs a token (MLOPS_MCP_TOKEN for the server, MLOPS_MCP_GATEWAY_TOKEN for the gateway).
FROM python:3.11-slim

ARG EXTRAS=all
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    MLFLOW_DISABLE_TELEMETRY=true ORT_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1 \
    MLOPS_MCP_HOME=/data

RUN useradd --uid 10001 --create-home --home-dir /home/mlops mlops \
    && mkdir -p /data && chown mlops /data

WORKDIR /src
COPY pyproject.toml README.md constraints.txt /src/
COPY mcp_server/ /src/mcp_server/
RUN pip install --no-cache-dir -c /src/constraints.txt "/src[${EXTRAS}]"

USER 10001
VOLUME /data
EXPOSE 8765 8780
HEALTHCHECK --interval=30s --timeout=5s \
    CMD ["mlops-mcp", "doctor"]
CMD ["mlops-mcp", "serve", "--transport", "http", "--host", "0.0.0.0", "--port", "8765"]
