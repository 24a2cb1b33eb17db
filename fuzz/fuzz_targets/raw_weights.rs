//! Any bytes given to the raw loader: an error or a load, never a panic, and a rejected
//! input leaves the network as it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use network::prelude::*;

network! {
    #[derive(Debug, PartialEq)]
    struct Net { a: Dense<3, 4>, Relu, b: Dense<4, 2> }
}

fuzz_target!(|data: &[u8]| {
    let mut net = Net::<f32>::zeros();
    if network::raw::load_bytes(&mut net, data).is_err() {
        assert_eq!(net, Net::zeros());
    }
});
