//! The network server's configuration, which the tool writes from system.toml into the
//! read-only region `config` (kaal-compose's `net_config_text`):
//!
//! ```text
//! nic e1000
//! address dhcp                          (or: address 10.0.2.15/24 gateway 10.0.2.2)
//! client 0 web listen 80,7 connect -
//! client 1 fetcher listen - connect 8000
//! ```
//!
//! Client `i` signals `net-wake` with badge bit `1 << (i + 1)` (bit 0 is the NIC
//! driver's); its region is `net-<name>` and its done notification `net-<name>-done`.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// How the interface gets its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Dhcp,
    Static { address: [u8; 4], prefix: u8, gateway: Option<[u8; 4]> },
}

/// One client and the ports system.toml grants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub index: usize,
    pub name: String,
    /// Local ports it may listen on or bind.
    pub listen: Vec<u16>,
    /// Remote ports it may connect or send to.
    pub connect: Vec<u16>,
}

impl Client {
    /// The badge bit this client's signals on `net-wake` carry.
    pub fn badge(&self) -> u64 {
        1 << (self.index + 1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub nic: String,
    pub address: Address,
    pub clients: Vec<Client>,
}

fn ipv4(text: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = text.split('.');
    for byte in &mut out {
        *byte = parts.next()?.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn ports(text: &str) -> Option<Vec<u16>> {
    if text == "-" {
        return Some(Vec::new());
    }
    text.split(',').map(|p| p.parse::<u16>().ok().filter(|p| *p != 0)).collect()
}

/// Parses the configuration; the error names the line that is wrong.
pub fn parse(text: &str) -> Result<Config, String> {
    let mut nic = None;
    let mut address = None;
    let mut clients = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let bad = || alloc::format!("line {}: `{line}` is not a network server configuration line", n + 1);
        match words.as_slice() {
            [] => {}
            ["nic", kind] => nic = Some(kind.to_string()),
            ["address", "dhcp"] => address = Some(Address::Dhcp),
            ["address", cidr, rest @ ..] => {
                let (ip, prefix) = cidr.split_once('/').ok_or_else(bad)?;
                let address_ = ipv4(ip).ok_or_else(bad)?;
                let prefix: u8 = prefix.parse().ok().filter(|p| (1..=32).contains(p)).ok_or_else(bad)?;
                let gateway = match rest {
                    [] => None,
                    ["gateway", g] => Some(ipv4(g).ok_or_else(bad)?),
                    _ => return Err(bad()),
                };
                address = Some(Address::Static { address: address_, prefix, gateway });
            }
            ["client", index, name, "listen", listen, "connect", connect] => {
                let index: usize = index.parse().map_err(|_| bad())?;
                if index != clients.len() || index >= 27 {
                    return Err(bad());
                }
                clients.push(Client {
                    index,
                    name: name.to_string(),
                    listen: ports(listen).ok_or_else(bad)?,
                    connect: ports(connect).ok_or_else(bad)?,
                });
            }
            _ => return Err(bad()),
        }
    }
    Ok(Config { nic: nic.ok_or("no `nic` line")?, address: address.ok_or("no `address` line")?, clients })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_tool_writes() {
        let c = parse(
            "nic e1000\naddress 10.0.2.15/24 gateway 10.0.2.2\nclient 0 web listen 80,7 connect -\nclient 1 f listen - \
             connect 8000\n",
        )
        .unwrap();
        assert_eq!(c.address, Address::Static { address: [10, 0, 2, 15], prefix: 24, gateway: Some([10, 0, 2, 2]) });
        assert_eq!(c.clients[0].listen, [80, 7]);
        assert_eq!(c.clients[1].connect, [8000]);
        assert_eq!(c.clients[1].badge(), 4);
        assert_eq!(parse("nic e1000\naddress dhcp\n").unwrap().address, Address::Dhcp);
        for bad in [
            "nic e1000\naddress 10.0.2/24\n",
            "nic e1000\naddress 10.0.2.15/33\n",
            "nic e1000\naddress dhcp\nclient 1 a listen - connect -\n",
            "nic e1000\naddress dhcp\nclient 0 a listen 0 connect -\n",
            "nic e1000\naddress dhcp\nclient 0 a listen 70000 connect -\n",
            "address dhcp\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
