//! The fuzz entry points on random bytes, random TOML-ish text, and single-byte mutations of the
//! shipped example policy: none may panic. (Stable CI's stand-in for a cargo-fuzz run.)

use nfguard_policy::fuzz::{fuzz_decide_request, fuzz_policy_text};
use proptest::prelude::*;

const EXAMPLE: &str = include_str!("../../deploy/policy.toml");

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decide_request_bytes(data in prop::collection::vec(any::<u8>(), 0..200)) {
        fuzz_decide_request(&data);
    }

    #[test]
    fn policy_text_bytes(data in prop::collection::vec(any::<u8>(), 0..200)) {
        fuzz_policy_text(&data);
    }

    #[test]
    fn policy_text_toml_like(text in "(default = \"(accept|drop)\"\n)?(\\[\\[rule\\]\\]\nname = \"[a-c]\"\n((app|host|src|dst|port|port_range|l4|time|action|rate|quota|over_quota|mark) = (\"[ -~]{0,12}\"|[0-9]{1,6}|\\[\"[ -~]{0,8}\"\\]|\\{ hours = \"[0-9:-]{0,11}\" \\})\n){0,5}){0,3}") {
        fuzz_policy_text(text.as_bytes());
    }

    #[test]
    fn example_policy_mutations(pos in 0usize..2000, byte in any::<u8>(), delete in any::<bool>()) {
        let mut data = EXAMPLE.as_bytes().to_vec();
        let pos = pos % data.len();
        if delete {
            data.remove(pos);
        } else {
            data[pos] = byte;
        }
        fuzz_policy_text(&data);
    }
}
