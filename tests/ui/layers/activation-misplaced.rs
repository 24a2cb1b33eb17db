use network::prelude::*;

network! {
    struct Net {
        Relu,
        hidden: Dense<4, 16>, Relu, Tanh,
        logits: Dense<16, 3>,
    }
}

fn main() {}
