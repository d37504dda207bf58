"""wharf as a Kubernetes CRI runtime: gRPC RuntimeService and ImageService.

The CRI is served beside the Docker API by ``wharfd`` (``--cri-socket``) over
the same engine: a pod sandbox is a container of the infra (pause) image
whose network, IPC and UTS namespaces the pod's containers join (dockershim's
design), and CRI's own fields (metadata, annotations, log path, pod links)
ride in the containers' labels, so the Docker API's records are the only
state and ``wharf ps -a`` shows a pod's containers. The stubs in ``pb`` are
generated from CRI v1's ``api.proto`` (``scripts/gen-cri-stubs.sh``); the
same handlers also answer as ``runtime.v1alpha2`` for older kubelets.
"""
