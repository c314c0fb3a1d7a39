"""The domain of the xinyong registry: identifiers, entities, agencies, access and audit.

Nothing here imports FastAPI, pandas or the importers; those layers build on this one.
"""
