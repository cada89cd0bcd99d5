# The official freqtrade image (FreqAI variant) at the pinned version, plus this package.
FROM freqtradeorg/freqtrade:2026.9_freqai

COPY --chown=ftuser:ftuser pyproject.toml README.md /opt/metalabel/
COPY --chown=ftuser:ftuser extensions /opt/metalabel/extensions
RUN pip install --user --no-cache-dir /opt/metalabel

# Inside the container the API must listen on all of the container's interfaces for
# the port mapping to reach it; docker-compose.yml publishes it on 127.0.0.1 only.
ENV METALABEL_CONTAINER=1
