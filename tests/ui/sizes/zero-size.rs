use network::prelude::*;

network! {
    struct Net {
        hidden: Dense<4, 0>, Relu,
        logits: Dense<3>,
    }
}

fn main() {}
