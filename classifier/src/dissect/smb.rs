//! SMB over direct TCP (port 445): a NetBIOS session-service header (RFC 1002 §4.3.1: type 0 =
//! SESSION MESSAGE, then a 24-bit length in direct hosting, [MS-SMB2] §2.1) followed by the SMB
//! protocol id: `\xffSMB` for SMB1, `\xfeSMB` for SMB2/3, `\xfdSMB` (SMB3 transform header,
//! encrypted) or `\xfcSMB` (SMB 3.1.1 compression header). nDPI's `src/lib/protocols/smb.c` labels
//! these `NetBIOS.SMBv1` and `NetBIOS.SMBv23`; port 139 stays with the NetBIOS session dissector.

use super::{Ctx, Dissector, Hit, Probe, ids};

pub const DISSECTOR: Dissector = Dissector {
    name: "smb",
    probe,
    tcp_ports: &[445],
    udp_ports: &[],
    reassemble: false,
    emits: &[ids::SMBV1, ids::SMBV23, ids::NETBIOS],
};

/// Session header (4) + protocol id (4).
const HEADER: usize = 8;
/// The smallest SMB header: SMB1's is 32 bytes ([MS-CIFS] §2.2.3.1), SMB2's 64 ([MS-SMB2] §2.2.1).
const MIN_SMB_HEADER: u32 = 32;

pub fn probe<'a>(ctx: &Ctx, data: &'a [u8]) -> Probe<Hit<'a>> {
    if ctx.has_port(139) {
        return Probe::NoMatch;
    }
    // SESSION MESSAGE; direct hosting uses the 3 following bytes as the length.
    if data.first().is_some_and(|&t| t != 0) {
        return Probe::NoMatch;
    }
    let id = data.get(4..HEADER.min(data.len())).unwrap_or(&[]);
    let app = [
        (0xff, ids::SMBV1),
        (0xfe, ids::SMBV23),
        (0xfd, ids::SMBV23),
        (0xfc, ids::SMBV23),
    ]
    .into_iter()
    .find(|&(first, _)| id.first().is_none_or(|&b| b == first))
    .map(|(_, app)| app);
    let Some(app) = app else {
        return Probe::NoMatch;
    };
    if id.get(1..).is_some_and(|rest| !b"SMB".starts_with(rest)) {
        return Probe::NoMatch;
    }
    if data.len() < HEADER {
        return Probe::NeedMore;
    }
    let len = u32::from_be_bytes([
        0,
        super::at(data, 1),
        super::at(data, 2),
        super::at(data, 3),
    ]);
    if len < MIN_SMB_HEADER {
        return Probe::NoMatch;
    }
    Probe::Match(Hit {
        master: ids::NETBIOS,
        app,
        host: &[],
        dns_labels: false,
    })
}

#[doc(hidden)]
pub fn fuzz_entry(data: &[u8]) {
    let _ = probe(&Ctx::client(6, 50927, 445), data);
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

    /// SMB1 NEGOTIATE (command 0x72) offering "NT LM 0.12", [MS-CIFS] §2.2.4.52.1.
    fn smb1_negotiate() -> Vec<u8> {
        let mut smb = vec![0xff, b'S', b'M', b'B', 0x72, 0, 0, 0, 0, 0x18, 0x53, 0xc0];
        smb.resize(32, 0); // rest of the header: PID, TID, UID, MID…
        smb.extend_from_slice(&[0x00, 0x0c, 0x00, 0x02]);
        smb.extend_from_slice(b"NT LM 0.12\0");
        let mut v = vec![0, 0, 0, smb.len() as u8];
        v.extend(smb);
        v
    }

    /// SMB2 NEGOTIATE request header ([MS-SMB2] §2.2.1.2: StructureSize 64, command 0).
    fn smb2_negotiate() -> Vec<u8> {
        let mut smb = vec![0xfe, b'S', b'M', b'B', 64, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        smb.resize(64, 0);
        smb.extend_from_slice(&[0x24, 0x00, 0x02, 0x00]); // NEGOTIATE StructureSize 36, 2 dialects
        let mut v = vec![0, 0, 0, smb.len() as u8];
        v.extend(smb);
        v
    }

    #[test]
    fn smb1_and_smb2_all_prefixes() {
        let ctx = Ctx::client(6, 50927, 445);
        check_all_prefixes(&ctx, &smb1_negotiate(), HEADER, probe, |h| {
            assert_eq!((h.master.name(), h.app.name()), ("NetBIOS", "SMBv1"))
        });
        check_all_prefixes(&ctx, &smb2_negotiate(), HEADER, probe, |h| {
            assert_eq!((h.master.name(), h.app.name()), ("NetBIOS", "SMBv23"))
        });
    }

    #[test]
    fn not_smb() {
        let ctx = Ctx::client(6, 50927, 445);
        // Kerberos over TCP: a record mark, then an AS-REQ tag.
        assert_eq!(
            probe(&ctx, b"\x00\x00\x00\xeb\x6a\x81\xe8\x30"),
            Probe::NoMatch
        );
        // A session header whose length cannot hold an SMB header.
        assert_eq!(probe(&ctx, b"\x00\x00\x00\x04\xfeSMB"), Probe::NoMatch);
        assert_eq!(probe(&ctx, b"\x00\x00\x00\x40\xfeSMX"), Probe::NoMatch);
        // Port 139 belongs to the NetBIOS session dissector.
        assert_eq!(
            probe(&Ctx::client(6, 50000, 139), &smb2_negotiate()),
            Probe::NoMatch
        );
    }

    /// curl 7.88.1 opening `smb://127.0.0.1:10445/share/file`: a session message with an SMB1
    /// NEGOTIATE, recorded on loopback (`testdata/first_segment.py`).
    const CURL_NEGOTIATE: &[u8] = include_bytes!("../../testdata/smb1_negotiate_curl_lo.bin");

    #[test]
    fn recorded_curl_negotiate_all_prefixes() {
        let ctx = Ctx::client(6, 40000, 10445);
        check_all_prefixes(&ctx, CURL_NEGOTIATE, HEADER, probe, |h| {
            assert_eq!((h.master, h.app), (ids::NETBIOS, ids::SMBV1))
        });
    }
}
