#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tbg_pool::fuzz::node_zmq(data));
