//! Interface names by index, for the `in_iface` / `out_iface` of a `DecideRequest`: read from
//! `/sys/class/net` of this network namespace when an index is first asked about (decision time only,
//! never per packet of a decided flow).

use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct IfNames {
    names: HashMap<u32, String>,
}

impl IfNames {
    /// The name of interface `index` (`""` for 0 or an unknown index).
    pub fn name(&mut self, index: u32) -> String {
        if index == 0 {
            return String::new();
        }
        if let Some(n) = self.names.get(&index) {
            return n.clone();
        }
        if let Ok(dir) = std::fs::read_dir("/sys/class/net") {
            for d in dir.flatten() {
                let path = d.path().join("ifindex");
                if let Some(i) = std::fs::read_to_string(path)
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok())
                {
                    self.names
                        .insert(i, d.file_name().to_string_lossy().into_owned());
                }
            }
        }
        self.names.get(&index).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_unknown() {
        let mut n = IfNames::default();
        assert_eq!(n.name(0), "");
        // Index 1 is the loopback interface in every network namespace.
        assert_eq!(n.name(1), "lo");
        assert_eq!(n.name(u32::MAX), "");
    }
}
