use network::prelude::*;

network! {
    struct Net {
        hidden: Dense<4, 16>, Swish,
        deeper: Dense<16, 16>, ReLU,
        logits: Dense<16, 3>,
    }
}

fn main() {}
