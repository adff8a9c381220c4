"""The one set of Pydantic schemas of the APIs, named by role (Create, Update, Public)."""
