"""The DynamoDB JSON wire protocol over aiohttp: routing, auth, validation, operations."""
