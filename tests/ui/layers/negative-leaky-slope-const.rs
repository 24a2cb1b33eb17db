use network::prelude::*;

const SLOPE: f64 = -0.5;

network! {
    struct Net {
        hidden: Dense<4, 16>, LeakyRelu(SLOPE),
        logits: Dense<16, 3>,
    }
}

fn main() {}
