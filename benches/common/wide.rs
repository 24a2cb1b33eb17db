//! The wide networks of the one-sample inference benches (`inference`, and `rtneural`
//! against RTNeural's dense models).

use network::prelude::*;

network! {
    /// 784-128-10: one wide layer, about 400 KB of weights.
    pub struct Wide { hidden: Dense<784, 128>, Relu, logits: Dense<128, 10> }
}

network! {
    /// 256-256-256-10: three square layers, about 800 KB of weights.
    pub struct Deep {
        a: Dense<256, 256>, Relu,
        b: Dense<256, 256>, Relu,
        c: Dense<256, 256>, Relu,
        logits: Dense<256, 10>,
    }
}
