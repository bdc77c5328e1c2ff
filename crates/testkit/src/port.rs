//! A port for a server that a test starts itself, often in another process.

use std::net::TcpListener;

/// A TCP port on 127.0.0.1 that is free now, chosen below the kernel's
/// ephemeral range.
///
/// `bind("127.0.0.1:0")` hands out a port from the ephemeral range, which the
/// kernel also uses for the local end of outgoing connections: between the
/// test dropping its probe and the server binding, a connection to
/// PostgreSQL or Redis from a test running in parallel can take it, and the
/// server fails with "Address already in use". Below that range only a test
/// choosing the very same port can collide.
///
/// # Panics
/// No port below the ephemeral range is free.
pub fn free_port() -> u16 {
    const LOWEST: u32 = 10_000;
    let below = ephemeral_range_start().map_or(32_768, u32::from);
    if below <= LOWEST + 100 {
        // An unusual range: fall back to one the kernel picks.
        return TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    }
    let span = u128::from(below - LOWEST);
    let start = uuid::Uuid::new_v4().as_u128();
    (0..1_000u128)
        .filter_map(|i| u16::try_from(u128::from(LOWEST) + (start.wrapping_add(i * 7_919) % span)).ok())
        .find(|&port| TcpListener::bind(("127.0.0.1", port)).is_ok())
        .unwrap_or_else(|| panic!("no free port between {LOWEST} and {below}"))
}

fn ephemeral_range_start() -> Option<u16> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_free_and_below_the_ephemeral_range() {
        let port = free_port();
        let below = ephemeral_range_start().unwrap_or(32_768);
        assert!(port < below, "{port} is not below {below}");
        TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
    }
}
