"""wharf's own registry server: the OCI distribution-spec v1.1 over a filesystem store.

``wharf registry serve`` runs it; ``wharf registry gc`` sweeps blobs no manifest
references. The package stands alone (aiohttp, bcrypt and the standard
library): nothing else in wharf imports it, and it imports nothing of wharf's.
"""
