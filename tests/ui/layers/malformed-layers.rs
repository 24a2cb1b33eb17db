use network::prelude::*;

network! {
    struct Net {
        Dense<4, 16>,
        hidden: Dense(4, 16), Relu<16>,
        act: Sigmoid,
        deeper: Dense<16, 16, 16>, LeakyRelu(-0.1),
        #[init(lecun)]
        logits: Dense<16, 3>,
    }
}

fn main() {}
