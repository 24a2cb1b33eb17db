use network::prelude::*;

network! {
    struct Net {
        input: Dense<4, 16>, Relu,
        block: Residual {
            a: Dense<16, 32>, Relu,
            b: Dense<32, 8>,
        },
        logits: Dense<16, 3>,
    }
}

fn main() {}
