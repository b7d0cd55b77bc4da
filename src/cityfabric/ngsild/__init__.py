"""The NGSI-LD information model: @context, entities, the q language, geo queries."""
