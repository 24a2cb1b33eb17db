use network::prelude::*;

network! {
    struct Net {
        hidden: Dense<4, Relu>,
        logits: Dense<16, 3>,
    }
}

fn main() {}
