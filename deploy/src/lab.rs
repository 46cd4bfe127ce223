//! The network-namespace lab: a LAN client, a router (where nfguard runs) and a server, joined by veth
//! pairs, with IPv4 and IPv6 (fd00::/8, `nodad`) addresses, routes and forwarding. Used by every
//! end-to-end test and by `nfguard demo`. Everything it creates is removed on drop, even when a test
//! panics: deleting a namespace removes its veths, iptables rules, qdiscs and conntrack entries, and the
//! processes it started are killed first.
//!
//! Names are short and random (`nfg<6 hex>-c`), so tests run in parallel and veth names stay ≤ 15 bytes.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// One network namespace of the lab.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
    /// Processes started with [`Netns::spawn`], killed when the lab is dropped.
    children: Mutex<Vec<Child>>,
}

/// Addresses of one side of the lab.
#[derive(Debug, Clone, Copy)]
pub struct Addrs {
    pub v4: Ipv4Addr,
    pub v6: Ipv6Addr,
}

/// client ── (c0/rc) ── router ── (rs/s0) ── server
#[derive(Debug)]
pub struct Lab {
    pub id: String,
    pub client: Netns,
    pub router: Netns,
    pub server: Netns,
    /// The client's addresses (LAN side).
    pub client_addr: Addrs,
    /// The router's address on the LAN side (the client's gateway).
    pub router_lan: Addrs,
    /// The router's address on the server side.
    pub router_wan: Addrs,
    pub server_addr: Addrs,
    /// Router interface names: LAN side, WAN side.
    pub lan_if: String,
    pub wan_if: String,
    /// A private directory for this lab's runtime files (ipc sockets, configs, databases).
    pub dir: PathBuf,
}

/// Runs a command, returning its output; a non-zero exit is an error carrying stderr.
pub fn run(args: &[&str]) -> io::Result<Output> {
    let (prog, rest) = args
        .split_first()
        .ok_or_else(|| io::Error::other("empty command"))?;
    let out = Command::new(prog)
        .args(rest)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "`{}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out)
}

/// True when this process may create namespaces (root with CAP_NET_ADMIN and `ip` present).
pub fn available() -> bool {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return false;
    };
    out.status.success() && is_root()
}

/// True when this process runs as root (namespaces, iptables and NFQUEUE need it).
pub fn is_root() -> bool {
    // /proc/self/status "Uid:" real uid 0; avoids an unsafe getuid().
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

// === impl Netns ===

impl Netns {
    fn create(name: String) -> io::Result<Netns> {
        run(&["ip", "netns", "add", &name])?;
        let ns = Netns {
            name,
            children: Mutex::new(Vec::new()),
        };
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// `ip netns exec <ns> args…`, waiting for it; non-zero exit is an error.
    pub fn exec(&self, args: &[&str]) -> io::Result<Output> {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Like [`Netns::exec`] but returns the output whatever the exit status.
    pub fn output(&self, args: &[&str]) -> io::Result<Output> {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .stdin(Stdio::null())
            .output()
    }

    /// A `Command` that runs inside the namespace, for callers that need pipes or env.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Starts a background process in the namespace; it is killed when the lab is dropped.
    /// Returns its pid.
    pub fn spawn(&self, args: &[&str]) -> io::Result<u32> {
        let (prog, rest) = args
            .split_first()
            .ok_or_else(|| io::Error::other("empty command"))?;
        let mut c = self.command(prog);
        c.args(rest)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.adopt(c.spawn()?)
    }

    /// Hands a child started elsewhere (e.g. with piped output) to the lab, to be killed on drop.
    pub fn adopt(&self, child: Child) -> io::Result<u32> {
        let pid = child.id();
        self.children
            .lock()
            .map_err(|_| io::Error::other("lab mutex poisoned"))?
            .push(child);
        Ok(pid)
    }

    /// `iptables -w args…` inside the namespace.
    pub fn iptables(&self, args: &[&str]) -> io::Result<Output> {
        let mut full = vec!["iptables", "-w"];
        full.extend_from_slice(args);
        self.exec(&full)
    }

    /// `ip6tables -w args…` inside the namespace.
    pub fn ip6tables(&self, args: &[&str]) -> io::Result<Output> {
        let mut full = vec!["ip6tables", "-w"];
        full.extend_from_slice(args);
        self.exec(&full)
    }

    /// Both `iptables` and `ip6tables` with the same arguments.
    pub fn ip46tables(&self, args: &[&str]) -> io::Result<()> {
        self.iptables(args)?;
        self.ip6tables(args)?;
        Ok(())
    }

    /// Packet counter of the first rule in `table`/`chain` whose text contains `needle`
    /// (from `iptables -L -v -x`), for IPv4 (`v6 = false`) or IPv6.
    pub fn rule_packets(
        &self,
        v6: bool,
        table: &str,
        chain: &str,
        needle: &str,
    ) -> io::Result<u64> {
        let tool = if v6 { "ip6tables" } else { "iptables" };
        let out = self.exec(&[tool, "-w", "-t", table, "-L", chain, "-v", "-x", "-n"])?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .skip(2)
            .find(|l| l.contains(needle))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                io::Error::other(format!(
                    "no rule matching {needle:?} in {table}/{chain}:\n{text}"
                ))
            })
    }

    fn kill_children(&self) {
        let Ok(mut children) = self.children.lock() else {
            return;
        };
        for c in children.iter_mut() {
            let _ = c.kill();
        }
        for c in children.iter_mut() {
            let _ = c.wait();
        }
        children.clear();
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.kill_children();
        // Processes started by others inside the namespace (e.g. `ip netns exec` children that
        // escaped) must go too, or the namespace lingers.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

// === impl Lab ===

impl Lab {
    /// Builds the three namespaces, links, addresses, routes and forwarding.
    ///
    /// # Errors
    /// Any failing `ip`/`sysctl` command; whatever was created is removed again.
    pub fn new() -> io::Result<Lab> {
        let id = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
        // A second byte for addresses so parallel labs (which are isolated anyway) differ in logs.
        let net = u8::try_from(rand::random::<u32>() % 200).unwrap_or(0) + 20;
        let client = Netns::create(format!("nfg{id}-c"))?;
        let router = Netns::create(format!("nfg{id}-r"))?;
        let server = Netns::create(format!("nfg{id}-s"))?;
        let dir = std::env::temp_dir().join(format!("nfg{id}"));
        // Private (0700): rigs use it as the bus's runtime_dir, which must not be open to others.
        {
            use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let lab = Lab {
            client_addr: Addrs {
                v4: Ipv4Addr::new(10, net, 1, 2),
                v6: format!("fd00:{net}:1::2")
                    .parse()
                    .map_err(io::Error::other)?,
            },
            router_lan: Addrs {
                v4: Ipv4Addr::new(10, net, 1, 1),
                v6: format!("fd00:{net}:1::1")
                    .parse()
                    .map_err(io::Error::other)?,
            },
            router_wan: Addrs {
                v4: Ipv4Addr::new(10, net, 2, 1),
                v6: format!("fd00:{net}:2::1")
                    .parse()
                    .map_err(io::Error::other)?,
            },
            server_addr: Addrs {
                v4: Ipv4Addr::new(10, net, 2, 2),
                v6: format!("fd00:{net}:2::2")
                    .parse()
                    .map_err(io::Error::other)?,
            },
            lan_if: "lan0".into(),
            wan_if: "wan0".into(),
            id,
            client,
            router,
            server,
            dir,
        };
        lab.wire()?;
        Ok(lab)
    }

    fn wire(&self) -> io::Result<()> {
        let (c, r, s) = (&self.client.name, &self.router.name, &self.server.name);
        let cv = format!("{}c", self.id);
        let sv = format!("{}s", self.id);
        // Create each pair in the root namespace under unique names, then move and rename the ends.
        run(&[
            "ip",
            "link",
            "add",
            &format!("{cv}0"),
            "type",
            "veth",
            "peer",
            "name",
            &format!("{cv}1"),
        ])?;
        run(&[
            "ip",
            "link",
            "set",
            &format!("{cv}0"),
            "netns",
            c,
            "name",
            "eth0",
        ])?;
        run(&[
            "ip",
            "link",
            "set",
            &format!("{cv}1"),
            "netns",
            r,
            "name",
            &self.lan_if,
        ])?;
        run(&[
            "ip",
            "link",
            "add",
            &format!("{sv}0"),
            "type",
            "veth",
            "peer",
            "name",
            &format!("{sv}1"),
        ])?;
        run(&[
            "ip",
            "link",
            "set",
            &format!("{sv}0"),
            "netns",
            s,
            "name",
            "eth0",
        ])?;
        run(&[
            "ip",
            "link",
            "set",
            &format!("{sv}1"),
            "netns",
            r,
            "name",
            &self.wan_if,
        ])?;

        let v4 = |a: Ipv4Addr| format!("{a}/24");
        let v6 = |a: Ipv6Addr| format!("{a}/64");
        for (ns, ifname, a) in [
            (&self.client, "eth0", self.client_addr),
            (&self.router, self.lan_if.as_str(), self.router_lan),
            (&self.router, self.wan_if.as_str(), self.router_wan),
            (&self.server, "eth0", self.server_addr),
        ] {
            ns.exec(&["ip", "addr", "add", &v4(a.v4), "dev", ifname])?;
            ns.exec(&["ip", "-6", "addr", "add", &v6(a.v6), "dev", ifname, "nodad"])?;
            ns.exec(&["ip", "link", "set", ifname, "up"])?;
        }
        for (ns, gw) in [
            (&self.client, self.router_lan),
            (&self.server, self.router_wan),
        ] {
            ns.exec(&["ip", "route", "add", "default", "via", &gw.v4.to_string()])?;
            ns.exec(&[
                "ip",
                "-6",
                "route",
                "add",
                "default",
                "via",
                &gw.v6.to_string(),
            ])?;
        }
        self.router
            .exec(&["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])?;
        self.router
            .exec(&["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"])?;
        // Byte counters on conntrack entries (the conntrack worker reports them for offloaded flows).
        let _ = self
            .router
            .exec(&["sysctl", "-q", "-w", "net.netfilter.nf_conntrack_acct=1"]);
        Ok(())
    }

    /// Adds a link between the host (root namespace) and the router, so the host reaches services running
    /// inside the router (`nfguard demo`'s gateway URL). Returns the router's address on it. The veth goes
    /// away with the router namespace.
    ///
    /// # Errors
    /// A failing `ip` command.
    pub fn add_host_link(&self) -> io::Result<Ipv4Addr> {
        let host_if = format!("{}h", self.id);
        let net = u8::try_from(u32::from_str_radix(&self.id, 16).unwrap_or(0) % 250).unwrap_or(0);
        let (host, router) = (
            Ipv4Addr::new(169, 254, net, 1),
            Ipv4Addr::new(169, 254, net, 2),
        );
        run(&[
            "ip",
            "link",
            "add",
            &host_if,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{host_if}r"),
        ])?;
        run(&[
            "ip",
            "link",
            "set",
            &format!("{host_if}r"),
            "netns",
            &self.router.name,
            "name",
            "host0",
        ])?;
        run(&["ip", "addr", "add", &format!("{host}/30"), "dev", &host_if])?;
        run(&["ip", "link", "set", &host_if, "up"])?;
        self.router
            .exec(&["ip", "addr", "add", &format!("{router}/30"), "dev", "host0"])?;
        self.router.exec(&["ip", "link", "set", "host0", "up"])?;
        Ok(router)
    }

    /// The seed's NAT router with a gateway the host can browse: a host link ([`Lab::add_host_link`]),
    /// the LAN masqueraded out of the WAN side, and TCP `port` on the host link forwarded (DNAT) to the
    /// router's loopback, where nfguard's gateway listens. Returns the address the host browses to.
    ///
    /// # Errors
    /// A failing `ip`, `sysctl` or `iptables` command, or the lab not ready within 5 s.
    pub fn nat_router_with_gateway(&self, port: u16) -> io::Result<Ipv4Addr> {
        let gateway_ip = self.add_host_link()?;
        self.wait_ready(Duration::from_secs(5))?;
        self.router.iptables(&[
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            &self.wan_if,
            "-j",
            "MASQUERADE",
        ])?;
        // Loopback is not routable from an interface unless route_localnet says so.
        self.router
            .exec(&["sysctl", "-q", "-w", "net.ipv4.conf.host0.route_localnet=1"])?;
        self.router.iptables(&[
            "-t",
            "nat",
            "-A",
            "PREROUTING",
            "-i",
            "host0",
            "-p",
            "tcp",
            "--dport",
            &port.to_string(),
            "-j",
            "DNAT",
            "--to-destination",
            &format!("127.0.0.1:{port}"),
        ])?;
        Ok(gateway_ip)
    }

    /// Gives the lab's directory and `files` in it to `user`, so `nfguard run`'s children may run as
    /// that user: they create the runtime dir's neighbours (store, decision log) and rewrite the rule
    /// file beside itself. The directory stays mode 0700; root still removes it on drop.
    ///
    /// # Errors
    /// An unknown user or a failing chown.
    pub fn hand_over(&self, user: &str, files: &[&str]) -> io::Result<()> {
        let u = nix::unistd::User::from_name(user)
            .map_err(io::Error::other)?
            .ok_or_else(|| io::Error::other(format!("no user {user:?}")))?;
        let (uid, gid) = (Some(u.uid.as_raw()), Some(u.gid.as_raw()));
        std::os::unix::fs::lchown(&self.dir, uid, gid)?;
        for f in files {
            std::os::unix::fs::lchown(self.dir.join(f), uid, gid)?;
        }
        Ok(())
    }

    /// Waits until the client reaches the server over IPv4 and IPv6 (neighbour discovery done).
    ///
    /// # Errors
    /// When either family is still unreachable after `timeout`.
    pub fn wait_ready(&self, timeout: Duration) -> io::Result<()> {
        let deadline = std::time::Instant::now() + timeout;
        for ip in [
            IpAddr::V4(self.server_addr.v4),
            IpAddr::V6(self.server_addr.v6),
        ] {
            loop {
                let ok = self
                    .client
                    .output(&["ping", "-c", "1", "-W", "1", &ip.to_string()])?
                    .status
                    .success();
                if ok {
                    break;
                }
                if std::time::Instant::now() > deadline {
                    return Err(io::Error::other(format!(
                        "{ip} unreachable from the client after {timeout:?}"
                    )));
                }
            }
        }
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Namespaces drop in field order after this; the directory goes first.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_fit_interface_limits() {
        let id = format!("{:06x}", 0xabcdefu32);
        assert!(format!("{id}c0").len() <= 15);
        assert!(format!("nfg{id}-c").len() <= 15);
    }
}
