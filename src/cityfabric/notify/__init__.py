"""NGSI-LD subscriptions and notifications (GS CIM 009 clauses 5.2.12-5.2.15, 5.8)."""
