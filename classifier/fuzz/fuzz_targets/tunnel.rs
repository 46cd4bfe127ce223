#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nfguard_classifier::replay::tunnel::fuzz_entry(data));
