"""Storage: RocksDB through rocksdict, the key and item codecs, the tables catalog and the
replication log. Knows nothing of HTTP or of DynamoDB operations."""
