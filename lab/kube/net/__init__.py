"""The emulated cluster's pod network: DNS, Services, NetworkPolicy, overlays, and the commands run in pods."""
