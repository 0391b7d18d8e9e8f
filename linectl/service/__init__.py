"""The line's interfaces: control API and its client, daemon, systemd notify, tokens."""
