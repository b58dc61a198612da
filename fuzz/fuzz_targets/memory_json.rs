#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| omnirule_tests::fuzz_targets::memory_json(data));
