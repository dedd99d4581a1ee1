"""Dynovault: a DynamoDB-compatible key-value server over RocksDB."""

__version__ = "0.1.0"
