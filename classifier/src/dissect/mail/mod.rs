//! The plain-text mail and file-transfer protocols (SMTP, POP3, IMAP, FTP): the banner probe, and
//! the in-band TLS upgrade (STARTTLS / STLS / AUTH TLS) the engine follows after it.

pub mod banner;
pub mod starttls;

pub use banner::DISSECTOR;
