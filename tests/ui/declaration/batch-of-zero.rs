//! `new_tape::<0>`: a batch of 0 samples where the batch size is a compile-time constant
//! is refused when the generic function is instantiated.
use network::prelude::*;

network! {
    struct Net { a: Dense<2, 3>, Relu, b: Dense<3, 2> }
}

fn main() {
    let _tape = Net::<f32>::new_tape::<0>();
}
