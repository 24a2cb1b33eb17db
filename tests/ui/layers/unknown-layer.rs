use network::prelude::*;

network! {
    struct Net {
        hidden: Dense<4, 16>, Relu,
        attend: Attention<16, 8>,
        logits: Dense<16, 3>,
    }
}

fn main() {}
