#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nfguard_classifier::ip_lists::fuzz_entry(data));
