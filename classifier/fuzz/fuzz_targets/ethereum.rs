#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nfguard_classifier::dissect::ethereum::fuzz_entry(data));
