use network::prelude::*;

network! {
    struct Net {
        hidden: Dense<16>, Relu,
        logits: Dense<3>,
    }
}

fn main() {}
