//! `nfguard rules`: nfguard's own iptables/ip6tables chains and HTB classes for a config (DESIGN §5),
//! printed as a script, applied, or removed exactly. The same code writes the recipes in `deploy/iptables/`.
//!
//! Everything nfguard installs lives in its own chains (`NFGUARD` in mangle, `NFGUARD-REJECT` in filter,
//! `NFGUARD-SHAPE` in mangle POSTROUTING) plus one jump per hook and interface, and one HTB root qdisc
//! per shaped interface, so removal never touches anybody else's rules.

use std::fmt;
use std::process::Command;
use std::time::{Duration, Instant};

use nfguard_proto::config::{Config, Hook};
use nfguard_proto::units::Rate;

/// nfguard's chains.
pub const CHAIN: &str = "NFGUARD";
pub const REJECT_CHAIN: &str = "NFGUARD-REJECT";
pub const SHAPE_CHAIN: &str = "NFGUARD-SHAPE";
/// HTB root handle nfguard uses on shaped interfaces (`1:` is the common default; stay out of its way).
pub const HTB_HANDLE: &str = "0x4e46";
/// How long `--confirm` waits when no duration is given.
pub const DEFAULT_CONFIRM: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Iptables,
    Ip6tables,
    Tc,
}

/// One command of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub tool: Tool,
    pub args: Vec<String>,
}

/// What to run to install, and what to run to remove, nfguard's rules.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub apply: Vec<Cmd>,
    pub remove: Vec<Cmd>,
}

/// An HTB class: the shaper field value and its rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShaperClass {
    pub class: u8,
    pub rate: Rate,
    pub rule: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("capture.mark_mode = \"protocol\" cannot be combined with capture.offload = true")]
    ProtocolMarksWithOffload,
    #[error(
        "the policy shapes traffic but [capture] interfaces is empty: HTB classes need the egress interfaces"
    )]
    ShapingNeedsInterfaces,
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error(
        "interface {0} already has a root qdisc that is not nfguard's; remove it first or leave it out of [capture] interfaces"
    )]
    ForeignQdisc(String),
    #[error(
        "nfguard's rules are already installed (chain {CHAIN} exists); run `nfguard rules --remove` first"
    )]
    AlreadyInstalled,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

// === impl Cmd ===

impl Cmd {
    fn new(tool: Tool, args: &str) -> Cmd {
        Cmd {
            tool,
            args: args.split_whitespace().map(str::to_string).collect(),
        }
    }

    fn program(&self) -> &'static str {
        match self.tool {
            Tool::Iptables => "iptables",
            Tool::Ip6tables => "ip6tables",
            Tool::Tc => "tc",
        }
    }

    /// Runs the command (iptables with `-w`: the xtables lock is global).
    ///
    /// # Errors
    /// [`RulesError::Command`] with its stderr when it exits non-zero.
    pub fn run(&self) -> Result<(), RulesError> {
        let mut c = Command::new(self.program());
        if self.tool != Tool::Tc {
            c.arg("-w");
        }
        let out = c.args(&self.args).output()?;
        if out.status.success() {
            return Ok(());
        }
        Err(RulesError::Command {
            command: self.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

impl fmt::Display for Cmd {
    /// The command as one line of a `#!/bin/sh` script: every argument shell-quoted where needed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = if self.tool == Tool::Tc { "" } else { " -w" };
        write!(f, "{}{w}", self.program())?;
        for a in &self.args {
            write!(f, " {}", shell_quoted(a))?;
        }
        Ok(())
    }
}

/// `arg` as a POSIX shell word: as it is when every byte is one the shell takes literally, else in
/// single quotes (an inner `'` as `'\''`). Interface names are checked against the kernel's rules,
/// but the kernel allows `;`, `$`, `` ` `` and quotes in them, so the script must not trust them.
fn shell_quoted(arg: &str) -> std::borrow::Cow<'_, str> {
    let literal = |c: char| c.is_ascii_alphanumeric() || "_-./:=,+@%^!".contains(c);
    if !arg.is_empty() && arg.chars().all(literal) {
        return arg.into();
    }
    format!("'{}'", arg.replace('\'', "'\\''")).into()
}

// === plan ===

/// The rules for `cfg` (and the policy's shaper classes).
///
/// # Errors
/// Inconsistent config: protocol marks with offload, or shaping without interfaces.
pub fn plan(cfg: &Config, shapers: &[ShaperClass]) -> Result<Plan, RulesError> {
    let c = &cfg.capture;
    if c.offload && c.mark_mode == nfguard_proto::config::MarkMode::Protocol {
        return Err(RulesError::ProtocolMarksWithOffload);
    }
    // With ntopng-style protocol marks the mark is the app id: no verdict or shaper bits to act on.
    let shapers = if c.mark_mode == nfguard_proto::config::MarkMode::Protocol {
        &[][..]
    } else {
        shapers
    };
    if !shapers.is_empty() && c.interfaces.is_empty() {
        return Err(RulesError::ShapingNeedsInterfaces);
    }
    let mut p = Plan::default();
    for tool in [Tool::Iptables, Tool::Ip6tables] {
        family(cfg, tool, shapers, &mut p);
    }
    if !shapers.is_empty() {
        for ifname in &c.interfaces {
            htb(ifname, shapers, &mut p);
        }
    }
    Ok(p)
}

fn family(cfg: &Config, tool: Tool, shapers: &[ShaperClass], p: &mut Plan) {
    let c = &cfg.capture;
    let v6 = tool == Tool::Ip6tables;
    let a = |args: String| Cmd::new(tool, &args);
    let vm = c.verdict_mask;
    let m = c.verdict_mask | c.shaper_mask | c.user_mask | c.app_mask;
    let (hook, dir) = match c.hook {
        Hook::Forward => ("FORWARD", "-i"),
        Hook::Input => ("INPUT", "-i"),
        Hook::Output => ("OUTPUT", "-o"),
    };

    p.apply.push(a(format!("-t mangle -N {CHAIN}")));
    // Never queued: loopback, then the operator's list.
    p.apply
        .push(a(format!("-t mangle -A {CHAIN} {dir} lo -j RETURN")));
    for net in c
        .never_queue
        .iter()
        .filter(|n| matches!(n, ipnet::IpNet::V6(_)) == v6)
    {
        p.apply
            .push(a(format!("-t mangle -A {CHAIN} -s {net} -j RETURN")));
        p.apply
            .push(a(format!("-t mangle -A {CHAIN} -d {net} -j RETURN")));
    }
    let queue = format!("-j NFQUEUE {} --queue-bypass", c.queues.iptables_args());
    if c.offload {
        // DESIGN §5: restore only into undecided packets; save once a packet carries verdict bits and the
        // connection does not yet; act on the verdict bits in the kernel; queue the rest.
        p.apply.push(a(format!("-t mangle -A {CHAIN} -m mark --mark 0x0/{vm:#x} -j CONNMARK --restore-mark --mask {m:#x}")));
        p.apply.push(a(format!("-t mangle -A {CHAIN} -m mark ! --mark 0x0/{vm:#x} -m connmark --mark 0x0/{vm:#x} -j CONNMARK --save-mark --mask {m:#x}")));
        p.apply.push(a(format!(
            "-t mangle -A {CHAIN} -m mark --mark {:#x}/{vm:#x} -j RETURN",
            field(vm, 1)
        )));
        p.apply.push(a(format!(
            "-t mangle -A {CHAIN} -m mark --mark {:#x}/{vm:#x} -j DROP",
            field(vm, 2)
        )));
        p.apply.push(a(format!(
            "-t mangle -A {CHAIN} -m mark --mark {:#x}/{vm:#x} -j RETURN",
            field(vm, 3)
        )));
    }
    p.apply.push(a(format!("-t mangle -A {CHAIN} {queue}")));
    let jumps: Vec<String> = if c.interfaces.is_empty() {
        vec![String::new()]
    } else {
        c.interfaces.iter().map(|i| format!("{dir} {i} ")).collect()
    };
    for j in &jumps {
        p.apply
            .push(a(format!("-t mangle -A {hook} {j}-j {CHAIN}")));
    }

    let masked = c.mark_mode == nfguard_proto::config::MarkMode::Masked;
    // Reject (verdict 3) happens in the filter table, which runs after mangle on the same hook.
    let unreach = if v6 {
        "icmp6-port-unreachable"
    } else {
        "icmp-port-unreachable"
    };
    let reject_jump = format!(
        "-m mark --mark {:#x}/{vm:#x} -j {REJECT_CHAIN}",
        field(vm, 3)
    );
    if masked {
        p.apply.push(a(format!("-t filter -N {REJECT_CHAIN}")));
        p.apply.push(a(format!(
            "-t filter -A {REJECT_CHAIN} -p tcp -j REJECT --reject-with tcp-reset"
        )));
        p.apply.push(a(format!(
            "-t filter -A {REJECT_CHAIN} -j REJECT --reject-with {unreach}"
        )));
        p.apply
            .push(a(format!("-t filter -I {hook} {reject_jump}")));
    }

    if !shapers.is_empty() {
        p.apply.push(a(format!("-t mangle -N {SHAPE_CHAIN}")));
        for s in shapers {
            let bits = field(c.shaper_mask, u32::from(s.class));
            p.apply.push(a(format!(
                "-t mangle -A {SHAPE_CHAIN} -m connmark --mark {bits:#x}/{:#x} -j CLASSIFY --set-class {HTB_HANDLE}:{:x}",
                c.shaper_mask, s.class
            )));
        }
        p.apply
            .push(a(format!("-t mangle -A POSTROUTING -j {SHAPE_CHAIN}")));
    }

    // Removal: jumps first, then the chains (flush, delete), in reverse.
    if !shapers.is_empty() {
        p.remove
            .push(a(format!("-t mangle -D POSTROUTING -j {SHAPE_CHAIN}")));
        p.remove.push(a(format!("-t mangle -F {SHAPE_CHAIN}")));
        p.remove.push(a(format!("-t mangle -X {SHAPE_CHAIN}")));
    }
    if masked {
        p.remove
            .push(a(format!("-t filter -D {hook} {reject_jump}")));
        p.remove.push(a(format!("-t filter -F {REJECT_CHAIN}")));
        p.remove.push(a(format!("-t filter -X {REJECT_CHAIN}")));
    }
    for j in &jumps {
        p.remove
            .push(a(format!("-t mangle -D {hook} {j}-j {CHAIN}")));
    }
    p.remove.push(a(format!("-t mangle -F {CHAIN}")));
    p.remove.push(a(format!("-t mangle -X {CHAIN}")));
}

fn htb(ifname: &str, shapers: &[ShaperClass], p: &mut Plan) {
    let t = |args: String| Cmd::new(Tool::Tc, &args);
    // Unclassified traffic is not shaped: HTB `default 0` sends it straight out.
    p.apply.push(t(format!(
        "qdisc add dev {ifname} root handle {HTB_HANDLE}: htb default 0"
    )));
    for s in shapers {
        p.apply.push(t(format!("class add dev {ifname} parent {HTB_HANDLE}: classid {HTB_HANDLE}:{:x} htb rate {}bit ceil {}bit", s.class, s.rate.0, s.rate.0)));
    }
    p.remove.push(t(format!(
        "qdisc del dev {ifname} root handle {HTB_HANDLE}:"
    )));
}

/// `value` placed in the field described by `mask`.
fn field(mask: u32, value: u32) -> u32 {
    nfguard_proto::Mark(0).with_field(mask, value).0
}

// === impl Plan ===

impl Plan {
    /// The install commands of one tool only (the `deploy/iptables/` and `deploy/ip6tables/` recipes).
    pub fn script_for(&self, tool: Tool) -> String {
        let only = Plan {
            apply: self
                .apply
                .iter()
                .filter(|c| c.tool == tool)
                .cloned()
                .collect(),
            remove: Vec::new(),
        };
        only.script()
    }

    /// The install commands as a shell script, with the caveats operators must know.
    pub fn script(&self) -> String {
        let mut s = String::from(
            "#!/bin/sh\n# nfguard's chains (generated by `nfguard rules`). Remove with `nfguard rules --remove`.\n\
             # Caveats (deploy/OPERATIONS.md explains them):\n\
             # - Packets accepted by NFQUEUE resume at the next table: rules placed after the jump to NFGUARD in\n\
             #   mangle never see queued packets. The jump is appended last for that reason.\n\
             # - A drop decided on a flow's very first packet cannot be offloaded (its conntrack entry dies with\n\
             #   the packet); nfguard's own cache drops the retransmissions.\n\
             # - --queue-bypass lets traffic pass uninspected while no nfguard-capture is bound (fail-open).\n\
             set -e\n",
        );
        for c in &self.apply {
            s.push_str(&c.to_string());
            s.push('\n');
        }
        s
    }

    /// Installs every command; on a failure, removes what was installed and returns the error.
    ///
    /// # Errors
    /// Rules already present, a foreign root qdisc on a shaped interface, or a failing command.
    pub fn apply(&self) -> Result<(), RulesError> {
        if Cmd::new(Tool::Iptables, &format!("-t mangle -S {CHAIN}"))
            .run()
            .is_ok()
        {
            return Err(RulesError::AlreadyInstalled);
        }
        for c in self
            .apply
            .iter()
            .filter(|c| c.tool == Tool::Tc && c.args.first().is_some_and(|a| a == "qdisc"))
        {
            if let Some(ifname) = c
                .args
                .get(3)
                .filter(|_| c.args.get(4).is_some_and(|a| a == "root"))
            {
                check_root_qdisc(ifname)?;
            }
        }
        for (i, c) in self.apply.iter().enumerate() {
            if let Err(e) = c.run() {
                tracing::error!(command = %c, error = %e, "Installing rules failed; rolling back.");
                self.remove_partial(i);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Removes nfguard's rules; carries on past failures (a half-installed set) and reports the first.
    ///
    /// # Errors
    /// The first failing command, after all were tried.
    pub fn remove(&self) -> Result<(), RulesError> {
        let mut first = None;
        for c in &self.remove {
            if let Err(e) = c.run() {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn remove_partial(&self, _applied: usize) {
        // Removal commands are independent per object; the ones for objects never created just fail.
        let _ = self.remove();
    }

    /// Applies, then waits up to `within` for `confirmed()` to turn true; otherwise removes the rules
    /// again (anti-lockout, like iptables-apply). Returns whether the rules stayed.
    ///
    /// # Errors
    /// As [`Plan::apply`] and [`Plan::remove`].
    pub fn apply_with_confirm(
        &self,
        within: Duration,
        mut confirmed: impl FnMut() -> bool,
    ) -> Result<bool, RulesError> {
        self.apply()?;
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if confirmed() {
                return Ok(true);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.remove()?;
        Ok(false)
    }
}

fn check_root_qdisc(ifname: &str) -> Result<(), RulesError> {
    let out = Command::new("tc")
        .args(["qdisc", "show", "dev", ifname, "root"])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // Defaults the kernel attaches by itself are not anybody's configuration.
    let foreign = text.lines().any(|l| {
        let kind = l.split_whitespace().nth(1).unwrap_or("");
        !matches!(kind, "noqueue" | "pfifo_fast" | "fq_codel" | "mq" | "")
    });
    if foreign {
        Err(RulesError::ForeignQdisc(ifname.to_string()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        Config::parse("t.toml", text).unwrap()
    }

    #[test]
    fn offload_chain_matches_design() {
        let p = plan(&cfg("[capture]\nqueues = \"0:3\"\n"), &[]).unwrap();
        let s = p.script();
        assert!(s.contains("iptables -w -t mangle -A NFGUARD -m mark --mark 0x0/0x3 -j CONNMARK --restore-mark --mask 0xffff00ff"), "{s}");
        assert!(s.contains("-t mangle -A NFGUARD -m mark ! --mark 0x0/0x3 -m connmark --mark 0x0/0x3 -j CONNMARK --save-mark --mask 0xffff00ff"));
        assert!(s.contains("-t mangle -A NFGUARD -m mark --mark 0x2/0x3 -j DROP"));
        assert!(s.contains("-t mangle -A NFGUARD -j NFQUEUE --queue-balance 0:3 --queue-bypass"));
        assert!(s.contains("ip6tables -w -t filter -A NFGUARD-REJECT -j REJECT --reject-with icmp6-port-unreachable"));
        assert!(s.contains("iptables -w -t mangle -A FORWARD -j NFGUARD"));
        // Every chain created is deleted, every jump added is removed.
        assert_eq!(
            p.apply
                .iter()
                .filter(|c| c.args.contains(&"-N".into()))
                .count(),
            p.remove
                .iter()
                .filter(|c| c.args.contains(&"-X".into()))
                .count()
        );
    }

    #[test]
    fn interfaces_never_queue_and_single_queue() {
        let p = plan(&cfg("[capture]\nqueues = \"2\"\ninterfaces = [\"eth1\", \"eth2\"]\nnever_queue = [\"192.168.9.0/24\", \"fd00:9::/64\"]\n"), &[]).unwrap();
        let s = p.script();
        assert!(s.contains("iptables -w -t mangle -A FORWARD -i eth1 -j NFGUARD"));
        assert!(s.contains("iptables -w -t mangle -A FORWARD -i eth2 -j NFGUARD"));
        assert!(s.contains("--queue-num 2 --queue-bypass"));
        assert!(s.contains("iptables -w -t mangle -A NFGUARD -s 192.168.9.0/24 -j RETURN"));
        assert!(s.contains("ip6tables -w -t mangle -A NFGUARD -d fd00:9::/64 -j RETURN"));
        assert!(!s.contains("ip6tables -w -t mangle -A NFGUARD -s 192.168.9.0/24"));
    }

    #[test]
    fn shaping_needs_interfaces_and_makes_classes() {
        let shapers = [ShaperClass {
            class: 1,
            rate: Rate(2_000_000),
            rule: "video-cap".into(),
        }];
        assert!(matches!(
            plan(&cfg(""), &shapers),
            Err(RulesError::ShapingNeedsInterfaces)
        ));
        let p = plan(&cfg("[capture]\ninterfaces = [\"wan0\"]\n"), &shapers).unwrap();
        let s = p.script();
        assert!(
            s.contains("tc qdisc add dev wan0 root handle 0x4e46: htb default 0"),
            "{s}"
        );
        assert!(
            s.contains("tc class add dev wan0 parent 0x4e46: classid 0x4e46:1 htb rate 2000000bit")
        );
        assert!(s.contains("-m connmark --mark 0x4/0xfc -j CLASSIFY --set-class 0x4e46:1"));
    }

    #[test]
    fn without_offload_only_queue_and_reject() {
        let p = plan(
            &cfg("[capture]\noffload = false\nmark_mode = \"protocol\"\n"),
            &[],
        )
        .unwrap();
        let s = p.script();
        assert!(!s.contains("CONNMARK"));
        assert!(s.contains("-j NFQUEUE"));
        // The plain protocol mark (HTTP = 7) must never read as "reject".
        assert!(!s.contains("REJECT"), "{s}");
    }

    #[test]
    fn hostile_interface_names_are_quoted_in_the_script() {
        // Names the kernel accepts but a shell would run: `;`, `$()`, backquotes, quotes.
        let names = ["x;id", "a$(id)", "b`id`", "c'd", "e&f|g"];
        let list = names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let p = plan(&cfg(&format!("[capture]\ninterfaces = [{list}]\n")), &[]).unwrap();
        let script = p.script();
        let dir = tempfile::tempdir().unwrap();
        // Run each printed command through sh with `iptables` replaced by a printer of its argv:
        // every name must arrive as one argument, byte for byte, and nothing else may run.
        let printer = dir.path().join("iptables");
        std::fs::write(
            &printer,
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n",
        )
        .unwrap();
        std::fs::set_permissions(
            &printer,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let jumps: Vec<&str> = script
            .lines()
            .filter(|l| l.starts_with("iptables ") && l.contains(" -A FORWARD "))
            .collect();
        assert_eq!(jumps.len(), names.len(), "{script}");
        for (line, name) in jumps.iter().zip(names) {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(line)
                .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))
                .output()
                .unwrap();
            assert!(out.status.success(), "{line}: {out:?}");
            let argv = String::from_utf8(out.stdout).unwrap();
            let argv: Vec<&str> = argv.lines().collect();
            assert_eq!(
                argv,
                [
                    "-w", "-t", "mangle", "-A", "FORWARD", "-i", name, "-j", "NFGUARD"
                ],
                "{line}"
            );
        }
    }
}
