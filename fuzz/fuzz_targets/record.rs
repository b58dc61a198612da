#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| omnirule_tests::fuzz_targets::record(data));
