"""Corpus recipes: real parallel text fetched, cleaned and split without leaks (see recipes.py)."""
