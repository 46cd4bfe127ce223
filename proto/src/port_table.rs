//! The default ports of the nDPI protocol table: the classifier's give-up guess by port, and the
//! label a capture gives a flow that ends before any decision.

use std::collections::HashMap;

use crate::types::{IPPROTO_TCP, IPPROTO_UDP};
use crate::{AppId, protocols};

/// (IP protocol, port) → the protocol registered for it.
#[derive(Debug)]
pub struct PortTable {
    ports: HashMap<(u8, u16), AppId>,
}

impl PortTable {
    pub fn new() -> Self {
        let mut ports = HashMap::new();
        // First protocol by id wins a shared port; ids below 7 (mail) and DNS sort first anyway.
        for p in protocols::all() {
            for &port in p.tcp_ports {
                ports.entry((IPPROTO_TCP, port)).or_insert(p.id);
            }
            for &port in p.udp_ports {
                ports.entry((IPPROTO_UDP, port)).or_insert(p.id);
            }
        }
        PortTable { ports }
    }

    /// The protocol registered for the server port (else the client port).
    pub fn guess(&self, l4: u8, server_port: u16, client_port: u16) -> Option<AppId> {
        self.ports
            .get(&(l4, server_port))
            .or_else(|| self.ports.get(&(l4, client_port)))
            .copied()
    }
}

impl Default for PortTable {
    fn default() -> Self {
        Self::new()
    }
}
