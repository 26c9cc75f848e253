"""ProxylessNAS search: binary-gated supernet, gradient (Proxyless-G) and REINFORCE (Proxyless-R) search."""
