"""Talking to ezeep Blue: pairing, the token lifecycle and the API calls the station makes.

Every request shape the station relies on (paths, form fields, JSON field names), including the
ones marked *assumed* in ``shared/docs/ezeep-api.md``, lives in ``station.cloud.contract`` so it
can be corrected in one edit once checked against the live service.
"""
