#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nfguard_classifier::dissect::dcerpc::fuzz_entry(data));
