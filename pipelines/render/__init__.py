"""Synthetic card imagery: card faces from the catalog, wear with known parameters, photo scenes."""
