#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nfguard_classifier::dissect::tls::certificate::fuzz_entry(data));
