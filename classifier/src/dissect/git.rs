//! Git's native protocol: a pkt-line naming the service (Git's `gitprotocol-pack`: 4 hex digits
//! of length including themselves, then `git-upload-pack `, `git-receive-pack ` or
//! `git-upload-archive `). nDPI `src/lib/protocols/git.c`.

use super::{Ctx, Dissector, Hit, Probe, ids};

pub const DISSECTOR: Dissector = Dissector {
    name: "git",
    probe: git,
    tcp_ports: &[9418],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::GIT],
};

const GIT_SERVICES: [&[u8]; 3] = [
    b"git-upload-pack ",
    b"git-receive-pack ",
    b"git-upload-archive ",
];
/// pkt-line length digits.
const PKT_LEN: usize = 4;

fn git<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if !ctx.stream_start || !ctx.from_client || !ctx.is_tcp() {
        return Probe::NoMatch;
    }
    let digits = data.get(..PKT_LEN.min(data.len())).unwrap_or(&[]);
    if !digits.iter().all(u8::is_ascii_hexdigit) {
        return Probe::NoMatch;
    }
    let rest = data.get(PKT_LEN.min(data.len())..).unwrap_or(&[]);
    let mut need_more = false;
    for service in GIT_SERVICES {
        match super::starts(rest, service) {
            Probe::Match(()) => {}
            Probe::NeedMore => {
                need_more = true;
                continue;
            }
            Probe::NoMatch => continue,
        }
        // The pkt-line must hold at least the service name.
        let len = std::str::from_utf8(digits)
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok());
        return match len {
            Some(l) if l >= PKT_LEN.saturating_add(service.len()) => {
                Probe::Match(Hit::proto(ids::GIT))
            }
            _ => Probe::NoMatch,
        };
    }
    if need_more || data.len() < PKT_LEN {
        Probe::NeedMore
    } else {
        Probe::NoMatch
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::*;
    use crate::dissect::testutil::check_all_prefixes;

    /// `git clone git://host/project.git` sends this pkt-line first (gitprotocol-pack §"Git
    /// Transport": service, path, NUL, "host=", NUL).
    const UPLOAD_PACK: &[u8] = b"0032git-upload-pack /project.git\0host=example.org\0";

    #[test]
    fn git_upload_pack_all_prefixes() {
        assert_eq!(UPLOAD_PACK.len(), 0x32);
        let ctx = Ctx::client(6, 47991, 9418);
        check_all_prefixes(&ctx, UPLOAD_PACK, 4 + 16, git, |h| {
            assert_eq!(h.master.name(), "Git")
        });
    }

    #[test]
    fn not_git() {
        let ctx = Ctx::client(6, 47991, 9418);
        assert_eq!(git(&ctx, b"0004git-upload-pack /x"), Probe::NoMatch);
        assert_eq!(git(&ctx, b"00zzgit-upload-pack /x"), Probe::NoMatch);
        assert_eq!(git(&ctx, b"0036git-clone /x"), Probe::NoMatch);
        assert_eq!(git(&ctx, b"GET /info/refs HTTP/1.1\r\n"), Probe::NoMatch);
    }

    /// What `git clone git://127.0.0.1:19418/project.git` sent first, recorded on loopback
    /// (`testdata/first_segment.py`).
    const GIT_RECORDED: &[u8] = include_bytes!("../../testdata/git_upload_pack_lo.bin");

    #[test]
    fn recorded_git_clone_all_prefixes() {
        let ctx = Ctx::client(6, 47991, 19418);
        check_all_prefixes(&ctx, GIT_RECORDED, 4 + 16, git, |h| {
            assert_eq!(h.master, ids::GIT)
        });
    }
}
