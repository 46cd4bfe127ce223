#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| nfguard_capture::decode::fuzz_entry(data));
