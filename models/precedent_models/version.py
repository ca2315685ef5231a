"""Converter version: bump when the generated model changes, so setups rebuild."""

CONVERTER_VERSION = 3
