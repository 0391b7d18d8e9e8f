"""The operator HMI (``linectl hmi``): its own process, HTTPS on the LAN, an observer of the line.

It talks to the daemon only through the control API (commands, status, rejects) and its event
stream (``GET /v1/events``), as any other client does; if it is slow or dies the line does not
notice, and if the daemon restarts it shows "disconnected" and reconnects by itself.
"""
