//! `TRUSTED_PROXIES`: the proxies whose `X-Forwarded-For` is believed.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

/// `TRUSTED_PROXIES` names something that is neither an IP address nor a CIDR range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a comma-separated list of IP addresses and CIDR ranges such as `10.0.0.0/8, ::1`, got {0:?}")]
pub struct TrustedProxiesError(String);

impl TrustedProxies {
    /// Trusts nobody: the client is always the socket's peer.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses a comma-separated list of IPv4/IPv6 addresses and CIDR ranges
    /// (`10.0.0.0/8, 192.168.1.7, fd00::/8`); blank items are ignored, so an
    /// empty text trusts nobody.
    ///
    /// # Errors
    /// An item that is neither an address nor a range.
    pub fn parse(text: &str) -> Result<Self, TrustedProxiesError> {
        let nets = text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                IpNet::from_str(item)
                    .map(|net| net.trunc())
                    .or_else(|_| IpAddr::from_str(item).map(|ip| IpNet::from(ip.to_canonical())))
                    .map_err(|_| TrustedProxiesError(item.to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { nets })
    }

    /// Whether nobody is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies (an IPv4-mapped IPv6
    /// address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }
}

impl FromStr for TrustedProxies {
    type Err = TrustedProxiesError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn trusted(text: &str) -> TrustedProxies {
        TrustedProxies::parse(text).unwrap()
    }

    #[test]
    fn trusted_proxies_parse_addresses_and_ranges_of_both_families() {
        let t = trusted(" 10.0.0.0/8 ,192.168.1.7, ::1, fd00::/8,");
        for inside in ["10.1.2.3", "192.168.1.7", "::1", "fd12::5", "::ffff:10.9.9.9"] {
            assert!(t.contains(ip(inside)), "{inside}");
        }
        for outside in ["11.0.0.1", "192.168.1.8", "::2", "fe80::1", "2001:db8::1"] {
            assert!(!t.contains(ip(outside)), "{outside}");
        }
    }

    #[test]
    fn a_range_with_host_bits_set_means_its_network() {
        assert!(trusted("10.1.2.3/8").contains(ip("10.200.0.1")));
    }

    #[test]
    fn an_empty_setting_trusts_nobody() {
        assert!(trusted("").is_empty());
        assert!(trusted(" , ").is_empty());
        assert_eq!(TrustedProxies::none(), trusted(""));
    }

    #[test]
    fn anything_but_addresses_and_ranges_is_refused_naming_the_item() {
        for bad in ["localhost", "10.0.0.0/33", "10.0.0", "*", "10.0.0.1-10.0.0.9", "fd00::/129"] {
            let err = TrustedProxies::parse(&format!("10.0.0.1, {bad}")).unwrap_err();
            assert_eq!(err, TrustedProxiesError(bad.to_owned()));
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        assert_eq!("::1".parse::<TrustedProxies>(), Ok(trusted("::1")));
    }
}
