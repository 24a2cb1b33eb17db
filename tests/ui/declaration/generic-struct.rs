use network::prelude::*;

network! {
    struct Net<T> {
        logits: Dense<4, 3>,
    }
}

fn main() {}
