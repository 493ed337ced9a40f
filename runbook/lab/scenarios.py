"""The lab's scenarios with a one-line description each (light: the CLI's help reads it)."""

SCENARIOS = {
    "healthy": "every device reachable and trusted; the FMC InternalCA has 60 days left",
    "fmc-ca-expired": "the FMC InternalCA expired 5 days ago (tunnels still established)",
    "ftd-tunnel-down": "ftd2's sftunnel is down: generate_certs.pl cannot push to it",
    "fmc-secondary-ca-expired": "only the HA secondary FMC's own InternalCA has expired",
    "gateway-in-cluster": "gw1 active and gw2 standby in a cluster, both trusted",
    "gateway-restarts": "the gateways restart their services on a SIC reset even with norestart",
    "ike-config-broken": "sol1's /etc/inet/ike/config breaks the seed's rules (p1_nonce_len 16)",
}
