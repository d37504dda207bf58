"""Networks on one host: IPAM, the bridge driver, nftables, published ports, embedded DNS.

The engine owns the objects (networks, endpoints, their JSON state) and calls
these domain pieces; none of them keeps state of its own on disk, so a daemon
restart rebuilds everything from the engine's records. Kernel calls block:
run them with ``asyncio.to_thread``. This package's ``__init__`` imports
nothing, so the CLI may use ``wharf.network.ports`` without pyroute2.

How the engine uses them
------------------------

``ipam.Ipam(state, routed=bridge.routed_subnets())``
    ``state`` is a dict the engine persists (e.g. ``{data_root}/network/ipam.json``).
    ``create_pool(key, subnet=None, gateway=None, ip_range=None, aux=None) -> PoolConfig``
    (``.to_docker()`` is the ``IPAM.Config`` entry; IPv4 or IPv6, an IPv6
    subnet must be given), ``allocate(key, ip=None)`` / ``release(key, ip)``
    per endpoint, ``release_pool(key)`` on ``network rm``. The engine's keys:
    the network ID for its IPv4 pool, ``<id>/v6`` for its IPv6 one. Persist
    ``state`` after every change.

``bridge.BridgeDriver()`` with ``bridge.BridgeNetwork(bridge, subnet, gateway, internal, mtu, subnet6, gateway6)``
    ``bridge.bridge_name(net_id, options)`` names the interface (``br-<12 hex>``
    or ``com.docker.network.bridge.name``; the default network passes its
    configured name). ``create_network(net)`` (idempotent: also the repair at
    start), ``delete_network(bridge)``, ``join(net, endpoint_id, ip, target=pid,
    mac=None, ifname=None, default_route=True, address6=None) -> Endpoint`` (the
    container's ``ethN`` with ``bridge.mac_for(ip)``, lo up, default routes unless
    internal),
    ``leave(endpoint_id)``, ``endpoint_exists(endpoint_id)`` (host veth names
    derive from endpoint IDs, so restart needs no driver state);
    ``prune(bridge, keep=endpoint_ids)`` at start removes what a ``kill -9``
    left behind.

``firewall.Firewall(prefix="wharf")``
    ``apply(networks=[FwNetwork(bridge, subnet, internal, masquerade, subnet6)], ports=[FwPort(proto,
    host_port, container_ip, container_port, host_ip)])`` after any network or
    published-port change and at start: it replaces the whole table
    atomically. ``remove()`` when the last bridge network goes and on clean
    shutdown (restores ``net.ipv4.ip_forward``).

``ports`` (pure) and ``portproxy.publish(binding, container_ip) -> Proxy``
    ``ports.from_port_bindings(HostConfig.PortBindings) -> [PortBinding]``;
    for each, ``await portproxy.publish(b, ip)`` reserves the host port
    (``PortAllocated``: "Bind for 0.0.0.0:8080 failed: port is already
    allocated") and relays traffic DNAT does not catch; ``proxy.binding.host_port``
    is the concrete port (random ones included) for ``FwPort``,
    ``NetworkSettings.Ports`` and ``port``; ``proxy.close()`` on stop.

``etcfiles.hosts_file(...)``, ``etcfiles.resolv_conf(host_text, dns, dns_search, dns_options, embedded)``
    the texts of the container's ``hosts`` and ``resolv.conf``; with
    ``embedded=True`` (user-defined networks) ``.upstreams`` are the servers
    the embedded DNS forwards to.

``dns.DnsServer(resolve, upstreams=[(ip, 53) for ip in resolv.upstreams])``
    per container on a user-defined network: ``await server.start(target=pid)``
    listens on 127.0.0.11:53 inside its netns; ``resolve(name)`` returns the
    addresses for a container name/alias on that container's networks, ``[]``
    for a known name without A records, None to forward. ``close()`` on stop.
    The container's resolv.conf then says ``nameserver 127.0.0.11``.

``netns.call_in(target, fn)`` / ``netns.iproute(target)``
    run code or open a netlink handle in a container's namespace.
"""
