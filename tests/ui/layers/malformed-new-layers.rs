use network::prelude::*;

network! {
    struct Net {
        a: Dense<4, 16>, Relu,
        Dropout(1.5),
        BatchNorm,
        norm: LayerNorm<16, 16>,
        #[checkpoint]
        Dropout(0.1),
        block: Residual {},
        plain: Residual,
        #[init(he)]
        bn: BatchNorm(0.1),
    }
}

fn main() {}
