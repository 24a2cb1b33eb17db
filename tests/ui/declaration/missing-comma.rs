use network::prelude::*;

network! {
    struct Net {
        hidden: Dense<4, 16> Relu,
        logits: Dense<16, 3>,
    }
}

fn main() {
    let _ = Net::<f32>::PARAMS;
}
