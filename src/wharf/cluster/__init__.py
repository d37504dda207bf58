"""The cluster store: what several wharfd hosts agree on, kept in etcd.

``etcd.EtcdClient`` speaks etcd's v3 JSON gateway over HTTP (aiohttp, no
gRPC); ``store.ClusterStore`` lays wharf's keys over it (hosts with a lease,
overlay networks, global IPAM by compare-and-swap, endpoints) and
``store.ClusterStore.watch`` streams their changes. Only the daemon imports
this package (it needs aiohttp).
"""
