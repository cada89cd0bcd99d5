# The official freqtrade image (FreqAI variant) at the pinned version, plus this package.
FROM freqtradeorg/freqtrade:2026.9_freqai

COPY --chown=ftuser:ftuser pyproject.toml README.md /opt/metalabel/
COPY --chown=ftuser:ftuser extensions /opt/metalabel/extensions
RUN pip install --user --no-cache-dir /opt/metalabel

# Inside the container the API listens on all of the container's interfaces; the
# startup check allows that only when docker-compose.yml says (METALABEL_API_PUBLISHED)
# that it publishes the port on the host's loopback. `docker run -p` is refused.
