#![deny(warnings, missing_docs, unused_qualifications, clippy::all)]
//! A public network in a crate that denies warnings and requires docs.

use network::prelude::*;

network! {
    /// A documented public network.
    #[derive(Clone, Debug)]
    pub struct Net {
        a: Dense<2, 4>, Relu,
        b: Dense<4, 2>, Softmax,
    }
}

fn main() {
    let net = Net::<f32>::zeros();
    let _ = net.forward(&SVector::<f32, 2>::zeros());
}
