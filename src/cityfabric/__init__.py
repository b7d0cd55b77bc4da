"""CityFabric: an open urban digital platform built on an ETSI NGSI-LD context broker."""

__version__ = "0.1.0"
