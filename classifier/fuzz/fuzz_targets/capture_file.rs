#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nfguard_classifier::capture_file::fuzz_entry(data));
