FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY dynovault ./dynovault
RUN pip install --no-cache-dir .

VOLUME ["/data"]
EXPOSE 8000
ENTRYPOINT ["dynovault", "serve", "--data-dir", "/data", "--host", "0.0.0.0", "--port", "8000"]
