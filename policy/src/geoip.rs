//! Country rules (`src_country`, `dst_country`): ISO 3166-1 alpha-2 codes of the addresses, from
//! a MaxMind DB file (`.mmdb`: MaxMind GeoLite2/GeoIP2 Country or City, DB-IP Country Lite) named by
//! `[policy] geoip`. The database is opened once per policy load and reloaded with the rule file
//! when it changes; a lookup reads the `country.iso_code` of the address's network and allocates
//! nothing.
//!
//! An address the database does not place (private ranges, unlisted networks, a network without a
//! country) has no country and matches no country matcher, negated or not: `dst_country = ["!DE"]`
//! is "placed, and not in Germany", so a LAN address never falls under it.

use std::net::IpAddr;
use std::path::Path;

use maxminddb::{PathElement, Reader};

/// Largest database read: GeoLite2-City is about 70 MiB; 512 MiB bounds a runaway file.
const MAX_DB_BYTES: u64 = 512 << 20;

const ISO_CODE: [PathElement<'static>; 2] =
    [PathElement::Key("country"), PathElement::Key("iso_code")];

/// An ISO 3166-1 alpha-2 code, upper case (`*b"DE"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Country(pub [u8; 2]);

/// The countries of a flow's two ends, `None` where the database has none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Countries {
    pub client: Option<Country>,
    pub server: Option<Country>,
}

/// An opened `.mmdb` file.
pub struct CountryDb {
    reader: Reader<Vec<u8>>,
    /// The path it was read from, for messages.
    path: String,
}

impl std::fmt::Debug for CountryDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountryDb")
            .field("path", &self.path)
            .field("type", &self.reader.metadata().database_type)
            .finish()
    }
}

/// One `src_country` / `dst_country` list: plain codes are alternatives, `!` codes exclusions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CountrySet {
    pub any_of: Vec<Country>,
    pub none_of: Vec<Country>,
}

// === impl Country ===

impl Country {
    /// Parses `DE` or `de`: two ASCII letters.
    ///
    /// # Errors
    /// Anything else, with what a code looks like.
    pub fn parse(s: &str) -> Result<Country, String> {
        match s.as_bytes() {
            &[a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Ok(Country([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => Err(format!(
                "{s:?} is not a country code (two letters, ISO 3166-1 alpha-2, e.g. \"DE\"; \"!DE\" excludes)"
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

// === impl CountrySet ===

impl CountrySet {
    /// Adds one list entry, `DE` or `!DE`.
    pub(crate) fn push(&mut self, entry: &str) -> Result<(), String> {
        let entry = entry.trim();
        match entry.strip_prefix('!') {
            Some(code) => self.none_of.push(Country::parse(code.trim())?),
            None => self.any_of.push(Country::parse(entry)?),
        }
        Ok(())
    }

    pub(crate) fn matches(&self, c: Option<Country>) -> bool {
        c.is_some_and(|c| {
            (self.any_of.is_empty() || self.any_of.contains(&c)) && !self.none_of.contains(&c)
        })
    }
}

// === impl CountryDb ===

impl CountryDb {
    /// Reads and checks a `.mmdb` file (a regular file of at most 512 MiB, a valid MaxMind DB).
    ///
    /// # Errors
    /// Why it cannot be used, without the path (the caller names it).
    pub fn open(path: &Path) -> Result<CountryDb, String> {
        let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
        if !meta.is_file() {
            return Err("not a regular file".into());
        }
        if meta.len() > MAX_DB_BYTES {
            return Err(format!(
                "{} bytes is more than the {MAX_DB_BYTES} a GeoIP database may have",
                meta.len()
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        CountryDb::from_bytes(bytes, &path.display().to_string())
    }

    /// As [`CountryDb::open`], from the file's bytes.
    ///
    /// # Errors
    /// Not a MaxMind DB.
    pub fn from_bytes(bytes: Vec<u8>, path: &str) -> Result<CountryDb, String> {
        let reader = Reader::from_source(bytes)
            .map_err(|e| format!("not a MaxMind DB (.mmdb) file: {e}"))?;
        Ok(CountryDb {
            reader,
            path: path.to_string(),
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The database's own name for its kind (`GeoLite2-Country`).
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// The country of `ip`, `None` when the database has none (or its record is malformed).
    pub fn country(&self, ip: IpAddr) -> Option<Country> {
        let found = self.reader.lookup(ip).ok()?;
        let code: &str = found.decode_path(&ISO_CODE).ok()??;
        Country::parse(code).ok()
    }

    pub(crate) fn countries(&self, client: IpAddr, server: IpAddr) -> Countries {
        Countries {
            client: self.country(client),
            server: self.country(server),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// `testdata/make_countries_mmdb.py` wrote it (mmdb-writer).
    const FIXTURE: &[u8] = include_bytes!("../testdata/countries.mmdb");

    fn db() -> CountryDb {
        CountryDb::from_bytes(FIXTURE.to_vec(), "countries.mmdb").unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_get_their_networks_country() {
        let db = db();
        let code = |s| db.country(ip(s)).map(|c| c.as_str().to_string());
        assert_eq!(code("192.0.2.77").as_deref(), Some("DE"));
        assert_eq!(code("2001:db8:1::9").as_deref(), Some("DE"));
        assert_eq!(code("198.51.100.1").as_deref(), Some("FR"));
        assert_eq!(code("10.45.2.2").as_deref(), Some("XS"));
        // Placed without a country, and not placed at all.
        assert_eq!(code("203.0.113.5"), None);
        assert_eq!(code("8.8.8.8"), None);
        assert_eq!(code("2001:db8:99::1"), None);
    }

    #[test]
    fn sets_combine_alternatives_and_exclusions() {
        let set = |entries: &[&str]| {
            let mut s = CountrySet::default();
            for e in entries {
                s.push(e).unwrap();
            }
            s
        };
        let (de, fr, us) = (Country(*b"DE"), Country(*b"FR"), Country(*b"US"));
        let not_de_fr = set(&["!DE", " !fr "]);
        assert!(!not_de_fr.matches(Some(de)));
        assert!(!not_de_fr.matches(Some(fr)));
        assert!(not_de_fr.matches(Some(us)));
        assert!(
            !not_de_fr.matches(None),
            "an unplaced address is no country"
        );
        let de_only = set(&["de"]);
        assert!(de_only.matches(Some(de)) && !de_only.matches(Some(us)));
        assert!(!de_only.matches(None));
    }

    #[test]
    fn bad_codes_say_what_a_code_is() {
        for bad in ["", "D", "DEU", "D1", "!", "!!DE", "ÄÖ"] {
            let e = CountrySet::default().push(bad).unwrap_err();
            assert!(e.contains("ISO 3166-1 alpha-2"), "{bad:?}: {e}");
        }
    }

    /// A damaged file is refused or answers nothing; it never panics.
    #[test]
    fn truncated_and_damaged_databases_never_panic() {
        let probes = ["192.0.2.1", "10.45.2.2", "2001:db8:1::1", "::1"].map(ip);
        for n in (0..FIXTURE.len()).step_by(61) {
            if let Ok(db) = CountryDb::from_bytes(FIXTURE[..n].to_vec(), "cut") {
                for p in probes {
                    let _ = db.country(p);
                }
            }
        }
        // Tree and data damaged, the metadata at the end intact: the reader opens it.
        let mut flipped = FIXTURE.to_vec();
        for i in (0..flipped.len() - 1024).step_by(7) {
            flipped[i] ^= 0x5a;
        }
        if let Ok(db) = CountryDb::from_bytes(flipped, "flipped") {
            for p in probes {
                let _ = db.country(p);
            }
        }
        assert!(CountryDb::from_bytes(b"not a database".to_vec(), "x").is_err());
    }
}
