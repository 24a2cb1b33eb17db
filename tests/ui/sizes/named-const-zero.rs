use network::prelude::*;

const HIDDEN: usize = 0;

network! {
    struct Net {
        hidden: Dense<4, HIDDEN>, Relu,
        logits: Dense<HIDDEN, 3>,
    }
}

fn main() {}
