"""The Calico for Windows installers and the Kubernetes node services, as they behave on an emulated host."""
