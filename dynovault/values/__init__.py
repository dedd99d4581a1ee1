"""The attribute-value model: DynamoDB's types, number rules, canonical form, item size
and key schemas. Pure: it imports only the standard library and ``dynovault.errors``, so
the expression language, storage and every layer above share one meaning of a value."""
