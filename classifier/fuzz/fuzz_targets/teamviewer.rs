#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nfguard_classifier::dissect::teamviewer::fuzz_entry(data));
