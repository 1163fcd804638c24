//! IP addresses and CIDR ranges as subjects, v4 and v6.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The widest IPv4 range a ban or exemption takes without an explicit
/// acknowledgement (`spec.subject.acknowledgeWideRange`): a /8 is 16M addresses,
/// and one typo such as `0.0.0.0/0` would otherwise ban everyone.
pub const WIDEST_V4_PREFIX: u8 = 8;
/// The widest IPv6 range taken without acknowledgement: a /32 is a whole
/// provider's allocation.
pub const WIDEST_V6_PREFIX: u8 = 32;

/// A network: an address with a prefix length; a single address is a full-length prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpNet {
    network: IpAddr,
    prefix: u8,
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not an IPv4/IPv6 address or CIDR")]
pub struct IpNetError(pub String);

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are the IPv4 address they carry,
/// as dual-stack sockets report them.
pub fn unmap(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

fn bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn width(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

fn mask(prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        let all = if width == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        all & !((1u128 << (width - prefix)) - 1) & all
    }
}

fn from_bits(bits: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4((bits as u32).into())
    } else {
        IpAddr::V6(bits.into())
    }
}

impl IpNet {
    /// The network of length `prefix` that contains `addr` (prefix clamped to the family's width).
    pub fn containing(addr: IpAddr, prefix: u8) -> IpNet {
        let addr = unmap(addr);
        let prefix = prefix.min(width(addr));
        IpNet {
            network: from_bits(bits(addr) & mask(prefix, width(addr)), addr.is_ipv4()),
            prefix,
        }
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// Whether the two networks share an address: one contains the other.
    pub fn overlaps(&self, other: &IpNet) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    pub fn is_ipv4(&self) -> bool {
        self.network.is_ipv4()
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = unmap(addr);
        if addr.is_ipv4() != self.network.is_ipv4() {
            return false;
        }
        bits(addr) & mask(self.prefix, width(addr)) == bits(self.network)
    }

    /// Wider than [`WIDEST_V4_PREFIX`] / [`WIDEST_V6_PREFIX`].
    pub fn is_wide(&self) -> bool {
        let widest = if self.is_ipv4() {
            WIDEST_V4_PREFIX
        } else {
            WIDEST_V6_PREFIX
        };
        self.prefix < widest
    }

    pub fn is_single_address(&self) -> bool {
        self.prefix == width(self.network)
    }
}

impl FromStr for IpNet {
    type Err = IpNetError;

    /// Host bits are cleared (`10.1.2.3/8` is `10.0.0.0/8`) so one range has one spelling.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || IpNetError(text.to_string());
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr = unmap(IpAddr::from_str(addr_text).map_err(|_| error())?);
        let full = width(addr);
        let prefix = match prefix_text {
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| error())?
            }
            Some(_) => return Err(error()),
            None => full,
        };
        if prefix > full {
            return Err(error());
        }
        let network = from_bits(bits(addr) & mask(prefix, full), addr.is_ipv4());
        Ok(IpNet { network, prefix })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_single_address() {
            write!(f, "{}", self.network)
        } else {
            write!(f, "{}/{}", self.network, self.prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_overlap_when_one_holds_the_other() {
        assert!(net("10.0.0.0/8").overlaps(&net("10.1.2.3")));
        assert!(net("10.1.2.3").overlaps(&net("10.0.0.0/8")));
        assert!(net("10.1.0.0/16").overlaps(&net("10.1.0.0/16")));
        assert!(!net("10.1.0.0/16").overlaps(&net("10.2.0.0/16")));
        assert!(!net("10.0.0.0/8").overlaps(&net("::ffff:11.0.0.1")));
        assert!(net("2001:db8::/32").overlaps(&net("2001:db8::7")));
        assert!(!net("2001:db8::/32").overlaps(&net("10.0.0.0/8")));
        assert_eq!(net("10.1.2.3/8").network(), ip("10.0.0.0"));
    }

    #[test]
    fn v4_ranges() {
        let range = net("10.1.2.3/8");
        assert_eq!(range.to_string(), "10.0.0.0/8");
        assert!(range.contains(ip("10.255.0.1")));
        assert!(!range.contains(ip("11.0.0.0")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(net("203.0.113.7").contains(ip("203.0.113.7")));
        assert!(!net("203.0.113.7").contains(ip("203.0.113.8")));
    }

    #[test]
    fn v6_ranges_and_mapped_v4() {
        let range = net("2001:db8::/32");
        assert!(range.contains(ip("2001:db8:ffff::1")));
        assert!(!range.contains(ip("2001:db9::1")));
        assert!(!range.contains(ip("10.0.0.1")));
        assert!(net("192.0.2.0/24").contains(ip("::ffff:192.0.2.5")));
        assert_eq!(net("::ffff:192.0.2.5").to_string(), "192.0.2.5");
        assert!(net("::/0").contains(ip("::1")));
    }

    #[test]
    fn wide_ranges() {
        for wide in ["0.0.0.0/0", "10.0.0.0/7", "::/0", "2001:db8::/31"] {
            assert!(net(wide).is_wide(), "{wide}");
        }
        for narrow in ["10.0.0.0/8", "203.0.113.7", "2001:db8::/32", "::1"] {
            assert!(!net(narrow).is_wide(), "{narrow}");
        }
    }

    #[test]
    fn rejects_bad_input() {
        for text in [
            "999.1.1.1/33",
            "1.2.3.4/33",
            "::/129",
            "banana",
            "1.2.3.4/",
            "1.2.3.4/-1",
            "",
            "1.2.3.4/ 8",
        ] {
            assert!(text.parse::<IpNet>().is_err(), "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn v4_membership_matches_arithmetic(addr: u32, probe: u32, prefix in 0u8..=32) {
            let range: IpNet = format!("{}/{prefix}", std::net::Ipv4Addr::from(addr)).parse().unwrap();
            let m: u32 = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
            prop_assert_eq!(range.contains(IpAddr::V4(probe.into())), addr & m == probe & m);
        }

        #[test]
        fn v6_membership_matches_arithmetic(addr: u128, probe: u128, prefix in 0u8..=128) {
            let range: IpNet = format!("{}/{prefix}", std::net::Ipv6Addr::from(addr)).parse().unwrap();
            prop_assume!(std::net::Ipv6Addr::from(addr).to_ipv4_mapped().is_none());
            prop_assume!(std::net::Ipv6Addr::from(probe).to_ipv4_mapped().is_none());
            let m: u128 = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
            prop_assert_eq!(range.contains(IpAddr::V6(probe.into())), addr & m == probe & m);
        }
    }
}
