#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nfguard_classifier::dissect::tls::records::fuzz_entry(data));
