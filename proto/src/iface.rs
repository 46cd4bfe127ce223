//! Network interface names as the kernel accepts them (`dev_valid_name` in `net/core/dev.c`), plus
//! iptables' trailing `+` wildcard. Checked wherever a name comes from a config or rule file, because
//! the names end up in iptables/tc command lines and in the scripts `nfguard rules` prints.

/// `IFNAMSIZ` is 16 bytes including the terminating NUL (`include/uapi/linux/if.h`).
pub const MAX_IFACE_NAME_LEN: usize = 15;

/// Checks an interface name or an iptables wildcard (`wlan+`, `+` for any).
///
/// # Errors
/// Why the name can never be an interface: empty, longer than 15 bytes, `.`/`..`, or containing a
/// byte the kernel refuses (`/`, `:`, whitespace, NUL) or one that is not printable ASCII (control
/// bytes and non-ASCII would reach a terminal or a shell script raw).
pub fn check_iface_name(name: &str) -> Result<(), String> {
    let stem = name.strip_suffix('+').unwrap_or(name);
    let why = if name.is_empty() {
        "it is empty".to_string()
    } else if name.len() > MAX_IFACE_NAME_LEN {
        format!("longer than {MAX_IFACE_NAME_LEN} bytes (IFNAMSIZ)")
    } else if stem == "." || stem == ".." {
        "reserved by the kernel".to_string()
    } else if let Some(c) = stem
        .chars()
        .find(|&c| !c.is_ascii_graphic() || c == '/' || c == ':' || c == '+')
    {
        format!(
            "{c:?} is not allowed (the kernel refuses '/', ':' and whitespace; '+' only ends a wildcard)"
        )
    } else {
        return Ok(());
    };
    Err(format!("{name:?} is not an interface name: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_names_and_wildcards_pass() {
        // `x;id` is a name the kernel takes: scripts must quote names, not rely on this check.
        for ok in [
            "eth0",
            "wlan+",
            "+",
            "br-lan",
            "veth1.100",
            "wg_0@x",
            "a23456789012345",
            "x;id",
        ] {
            assert_eq!(check_iface_name(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn hostile_names_are_refused() {
        for bad in [
            "",
            "a234567890123456",
            ".",
            "..",
            "x;touch${IFS}/tmp/PWNED;",
            "eth0 -j ACCEPT",
            "eth\t0",
            "eth/0",
            "eth:0",
            "a+b",
            "eth0\n",
            "\u{1b}[2J",
            "ethé",
        ] {
            assert!(check_iface_name(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
