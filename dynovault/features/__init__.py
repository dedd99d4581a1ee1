"""The feature-store layer: Feast's DynamoDB item layout served and ingested natively."""
