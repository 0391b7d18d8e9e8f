"""The resolver: answers the scan of a printed GS1 Digital Link after the pack has left the line.

Its own process (``linectl resolver``) and database (DESIGN.md section 11): EPCIS 2.0 capture in,
GS1 Digital Link resolution, the verification page and API, the scan log, alerts to webhooks, the
brand dashboard. Only :mod:`linectl.resolver.store` speaks SQL.
"""
