//! Who `nfguard run`'s children run as, what they may do, and whether that user can reach the files
//! the config names.
//!
//! Store, policy, classifier and gateway run as `[supervisor] user` (default `nfguard`) with no
//! capability and `NO_NEW_PRIVS`; the captures and the conntrack worker run as the same user with
//! `CAP_NET_ADMIN` alone (ambient, so it survives the exec). util-linux's `setpriv` does the switch
//! right before the exec, so the supervisor needs no `unsafe` `pre_exec`. Root children are refused
//! unless `allow_root = true`. [`check_access`] tells, before anything starts, which file or
//! directory that user cannot use and why (`nfguard check` and `nfguard run`).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nfguard_proto::config::{Config, ConfigError, error_at, read_config_file};

/// The user the children run as when `[supervisor] user` is not set and it exists.
pub const DEFAULT_USER: &str = "nfguard";

/// What a child may do besides being an ordinary process of [`RunAs`]'s user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// No capability at all (store, policy, classifier, gateway).
    None,
    /// `CAP_NET_ADMIN` only: NFQUEUE, ctnetlink, iptables counters (captures, conntrack worker).
    NetAdmin,
}

/// The identity the children get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (`--init-groups`), for the access checks.
    pub groups: Vec<u32>,
    /// The supervisor is root and switches to this user (and drops capabilities); when it is not
    /// root, children run as the supervisor's own user and have no capability to drop.
    pub switch: bool,
}

// === impl RunAs ===

impl RunAs {
    /// The user for `cfg`'s children: `[supervisor] user`, else `nfguard` when it exists.
    ///
    /// # Errors
    /// `FILE:LINE: supervisor.user: …` for an unknown user, a user the supervisor cannot switch to,
    /// or root without `allow_root = true`.
    pub fn resolve(cfg: &Config) -> Result<RunAs, ConfigError> {
        let (file, text) = config_text(cfg);
        let err = |path: &str, m: String| error_at(&file, &text, path, m);
        let sup = &cfg.supervisor;
        let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten();
        if !nix::unistd::geteuid().is_root() {
            let Some(me) = me else {
                return Err(err("-", "this process's uid has no passwd entry".into()));
            };
            if let Some(u) = &sup.user
                && *u != me.name
            {
                return Err(err(
                    "supervisor.user",
                    format!(
                        "nfguard run is not root, so it cannot start the children as {u:?} (they run as {:?})",
                        me.name
                    ),
                ));
            }
            return Ok(RunAs::from_user(&me, false));
        }
        let name = sup.user.as_deref().unwrap_or(DEFAULT_USER);
        let user = match nix::unistd::User::from_name(name) {
            Ok(Some(u)) => u,
            Ok(None) | Err(_) if sup.user.is_some() => {
                return Err(err(
                    "supervisor.user",
                    format!("no user {name:?} on this system"),
                ));
            }
            Ok(None) | Err(_) => {
                if !sup.allow_root {
                    return Err(err(
                        "supervisor.user",
                        format!(
                            "not set, and there is no user {DEFAULT_USER:?} to run the children as: create it \
                             (useradd --system --no-create-home --shell /usr/sbin/nologin {DEFAULT_USER}), \
                             name another user here, or set supervisor.allow_root = true"
                        ),
                    ));
                }
                let Some(root) = me else {
                    return Err(err("-", "root has no passwd entry".into()));
                };
                return Ok(RunAs::from_user(&root, true));
            }
        };
        if user.uid.is_root() && !sup.allow_root {
            return Err(err(
                "supervisor.user",
                format!(
                    "{name:?} is root (uid 0): the children would run as root; set supervisor.allow_root = true if that is meant"
                ),
            ));
        }
        Ok(RunAs::from_user(&user, true))
    }

    fn from_user(u: &nix::unistd::User, switch: bool) -> RunAs {
        let groups = std::ffi::CString::new(u.name.as_bytes())
            .ok()
            .and_then(|c| nix::unistd::getgrouplist(&c, u.gid).ok())
            .map_or_else(
                || vec![u.gid.as_raw()],
                |g| g.iter().map(|g| g.as_raw()).collect(),
            );
        RunAs {
            name: u.name.clone(),
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
            groups,
            switch,
        }
    }

    /// `setpriv` options that start a child as this user with `privilege`, ending in `--`.
    /// `--pdeathsig` comes last among setpriv's own steps (after the uid change, which would clear it).
    pub fn setpriv_args(&self, privilege: Privilege) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        if self.switch {
            a.extend([
                "--reuid".into(),
                self.uid.to_string(),
                "--regid".into(),
                self.gid.to_string(),
                "--init-groups".into(),
            ]);
            let caps = match privilege {
                Privilege::None => "-all",
                Privilege::NetAdmin => "-all,+net_admin",
            };
            a.push(format!("--inh-caps={caps}"));
            if privilege == Privilege::NetAdmin {
                a.push(format!("--ambient-caps={caps}"));
            }
            a.push(format!("--bounding-set={caps}"));
        }
        a.extend([
            "--no-new-privs".into(),
            "--pdeathsig".into(),
            "TERM".into(),
            "--".into(),
        ]);
        a
    }

    fn describe(&self) -> String {
        format!("user {} (uid {})", self.name, self.uid)
    }
}

/// What a check needs of a path: read, write, search/execute bits as in `mode`.
const R: u32 = 4;
const W: u32 = 2;
const X: u32 = 1;

/// Can `who` do `need` (R|W|X) on a file with this owner, group and mode? The kernel's rule without
/// ACLs and without capabilities (the children have none that override file modes): the owner's
/// bits for the owner, the group's for a member, the others' for everyone else.
pub fn permits(who: &RunAs, uid: u32, gid: u32, mode: u32, need: u32) -> bool {
    let bits = if who.uid == uid {
        mode >> 6
    } else if who.groups.contains(&gid) || who.gid == gid {
        mode >> 3
    } else {
        mode
    } & 0o7;
    bits & need == need
}

fn what(need: u32) -> &'static str {
    match need {
        R => "read",
        X => "execute",
        n if n == W | X => "write into",
        n if n == R | W => "read and write",
        _ => "use",
    }
}

/// Checks `need` on `path` and search permission on each directory above it; for a path that does
/// not exist yet (`creatable`), that its nearest existing directory lets `who` create it.
fn check_path(who: &RunAs, path: &Path, need: u32, creatable: bool) -> Result<(), String> {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing: Option<PathBuf> = None;
    let mut dir = PathBuf::from("/");
    let parts: Vec<_> = abs.components().skip(1).collect();
    for (i, c) in parts.iter().enumerate() {
        let meta = match std::fs::metadata(&dir) {
            Ok(m) => m,
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        };
        if !permits(who, meta.uid(), meta.gid(), meta.mode(), X) {
            return Err(deny(who, &dir, &meta, "enter"));
        }
        let next = dir.join(c);
        if std::fs::metadata(&next).is_err() {
            if !creatable {
                return Err(format!("{} does not exist", next.display()));
            }
            // The first missing component: `who` creates it (and below) in `dir`.
            if !permits(who, meta.uid(), meta.gid(), meta.mode(), W | X) {
                return Err(format!(
                    "{} does not exist and {}",
                    abs.display(),
                    deny(who, &dir, &meta, "create it in")
                ));
            }
            return Ok(());
        }
        dir = next;
        if i + 1 == parts.len() {
            existing = Some(dir.clone());
        }
    }
    let target = existing.unwrap_or(dir);
    let meta = std::fs::metadata(&target).map_err(|e| format!("{}: {e}", target.display()))?;
    if !permits(who, meta.uid(), meta.gid(), meta.mode(), need) {
        return Err(deny(who, &target, &meta, what(need)));
    }
    Ok(())
}

fn deny(who: &RunAs, path: &Path, meta: &std::fs::Metadata, verb: &str) -> String {
    format!(
        "{} cannot {verb} {} (owner uid {} gid {}, mode {:04o})",
        who.describe(),
        path.display(),
        meta.uid(),
        meta.gid(),
        meta.mode() & 0o7777
    )
}

/// Everything `who` needs for `cfg`: the config itself, the rule file (read, and rewritten beside
/// itself by `PUT /api/v1/policy`), the decision log, the GeoIP database, the store's directory, the token file, the
/// runtime directory (an existing one must be `who`'s own and private) and the binaries.
///
/// # Errors
/// The first problem, as `FILE:LINE: KEY: what cannot do what`.
pub fn check_access(cfg: &Config, who: &RunAs, bin_dir: &Path) -> Result<(), ConfigError> {
    let (file, text) = config_text(cfg);
    let at = |key: &str, r: Result<(), String>| r.map_err(|m| error_at(&file, &text, key, m));
    if let Some(src) = &cfg.source {
        at("-", check_path(who, src, R, false))?;
    }
    let rules = cfg.rules_path();
    let rules = std::fs::canonicalize(&rules).unwrap_or(rules);
    at("policy.rules", check_path(who, &rules, R, false))?;
    if let Some(dir) = rules.parent() {
        at("policy.rules", check_path(who, dir, W | X, false))?;
    }
    if let Some(log) = &cfg.policy.decision_log {
        let log = cfg.base_dir().join(log);
        let r = if log.exists() {
            check_path(who, &log, W, false)
        } else {
            check_path(who, &log, W, true)
        };
        at("policy.decision_log", r)?;
    }
    if let Some(db) = cfg.geoip_path() {
        at("policy.geoip", check_path(who, &db, R, false))?;
    }
    let store = cfg.base_dir().join(&cfg.store.path);
    at("store.path", check_path(who, &store, R | W | X, true))?;
    if let Some(tok) = &cfg.gateway.token_file {
        at(
            "gateway.token_file",
            check_path(who, &cfg.base_dir().join(tok), R, false),
        )?;
    }
    at("runtime_dir", runtime_dir_usable(who, &cfg.runtime_dir))?;
    for b in crate::supervisor::BINARIES {
        at(
            "supervisor.bin_dir",
            check_path(who, &bin_dir.join(b), X, false),
        )?;
    }
    Ok(())
}

/// An existing runtime dir must be `who`'s own, a directory, and closed to others (the bus has no
/// other guard); a missing one is created by the supervisor for `who`, so only its parents count.
fn runtime_dir_usable(who: &RunAs, dir: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(dir) {
        Err(_) => match dir.parent() {
            Some(p) if p.exists() => check_path(who, p, X, false),
            _ => Ok(()),
        },
        Ok(m) if !m.is_dir() => Err(format!(
            "{} is not a directory (symlinks are not followed)",
            dir.display()
        )),
        Ok(m) if m.uid() != who.uid => Err(format!(
            "{} is owned by uid {}, not by the children's {}: chown it or remove it (nfguard run creates it)",
            dir.display(),
            m.uid(),
            who.describe()
        )),
        Ok(m) if m.mode() & 0o077 != 0 => Err(format!(
            "{} is mode {:04o}, open to other users (it must be 0700)",
            dir.display(),
            m.mode() & 0o7777
        )),
        Ok(_) => check_path(who, dir, R | W | X, false),
    }
}

fn config_text(cfg: &Config) -> (String, String) {
    match cfg.source.as_deref().map(read_config_file) {
        Some(Ok(ft)) => ft,
        _ => (
            cfg.source
                .as_deref()
                .map_or_else(|| "nfguard.toml".into(), |p| p.display().to_string()),
            String::new(),
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn user(uid: u32, gid: u32, groups: &[u32]) -> RunAs {
        RunAs {
            name: "svc".into(),
            uid,
            gid,
            groups: groups.to_vec(),
            switch: true,
        }
    }

    #[test]
    fn owner_group_and_other_bits_are_read_like_the_kernel() {
        let u = user(1000, 1000, &[1000, 20]);
        assert!(permits(&u, 1000, 0, 0o600, R | W));
        assert!(
            !permits(&u, 1000, 0, 0o077, R),
            "the owner's bits alone count for the owner"
        );
        assert!(permits(&u, 0, 20, 0o640, R));
        assert!(!permits(&u, 0, 20, 0o640, W));
        assert!(permits(&u, 0, 0, 0o755, X));
        assert!(!permits(&u, 0, 0, 0o700, X));
        // Root without capabilities is an ordinary owner too.
        assert!(!permits(&user(0, 0, &[]), 1000, 1000, 0o700, R));
    }

    #[test]
    fn setpriv_drops_everything_but_what_the_role_needs() {
        let u = user(999, 998, &[]);
        let plain = u.setpriv_args(Privilege::None).join(" ");
        assert_eq!(
            plain,
            "--reuid 999 --regid 998 --init-groups --inh-caps=-all --bounding-set=-all --no-new-privs --pdeathsig TERM --"
        );
        let net = u.setpriv_args(Privilege::NetAdmin).join(" ");
        assert!(net.contains("--ambient-caps=-all,+net_admin"), "{net}");
        assert!(net.contains("--bounding-set=-all,+net_admin"), "{net}");
        let same = RunAs { switch: false, ..u };
        assert_eq!(
            same.setpriv_args(Privilege::NetAdmin).join(" "),
            "--no-new-privs --pdeathsig TERM --"
        );
    }

    #[test]
    fn a_path_names_the_directory_that_stops_the_user() {
        let tmp = tempfile::tempdir().unwrap();
        let closed = tmp.path().join("closed");
        std::fs::create_dir(&closed).unwrap();
        std::fs::write(closed.join("f"), "x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let me = std::fs::metadata(tmp.path()).unwrap().uid();
        // Somebody else: may enter tmp (0755) but not `closed` (0700).
        let other = user(me.wrapping_add(4242), 4242, &[]);
        let e = check_path(&other, &closed.join("f"), R, false).unwrap_err();
        assert!(e.contains("cannot enter"), "{e}");
        assert!(
            e.contains(&format!("{} (owner uid {me}", closed.display())),
            "{e}"
        );
        assert!(e.contains("mode 0700"), "{e}");
        let e = check_path(&other, &tmp.path().join("new/db"), R | W | X, true).unwrap_err();
        assert!(e.contains("does not exist and"), "{e}");
        assert!(e.contains("cannot create it in"), "{e}");
        // The owner may do all of it.
        let owner = user(me, 4242, &[]);
        check_path(&owner, &closed.join("f"), R | W, false).unwrap();
        check_path(&owner, &tmp.path().join("new/db"), R | W | X, true).unwrap();
        let e = check_path(&owner, &closed.join("missing"), R, false).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn a_runtime_dir_of_someone_else_or_open_to_others_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let me = std::fs::metadata(tmp.path()).unwrap().uid();
        let owner = user(me, 0, &[]);
        let dir = tmp.path().join("run");
        runtime_dir_usable(&owner, &dir).unwrap();
        std::fs::create_dir(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).unwrap();
        let e = runtime_dir_usable(&owner, &dir).unwrap_err();
        assert!(e.contains("mode 0750"), "{e}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        runtime_dir_usable(&owner, &dir).unwrap();
        let e = runtime_dir_usable(&user(me.wrapping_add(1), 0, &[]), &dir).unwrap_err();
        assert!(e.contains(&format!("owned by uid {me}")), "{e}");
    }
}
