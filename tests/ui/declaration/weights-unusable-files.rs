//! A missing file, a corrupted one, and a network with another number of tensors.
use network::prelude::*;

network! {
    #[weights("../fixtures/missing.bin")]
    struct Missing { a: Dense<2, 3>, Relu, b: Dense<3, 1> }
}

network! {
    #[weights("../fixtures/tiny-corrupt.bin")]
    struct Corrupt { a: Dense<2, 3>, Relu, b: Dense<3, 1> }
}

network! {
    #[weights("../fixtures/tiny.bin")]
    struct Deeper { a: Dense<2, 3>, Relu, b: Dense<3, 3>, Relu, c: Dense<3, 1> }
}

fn main() {
    let x = SVector::<f32, 2>::zeros();
    let _ = Missing::<f32>::WEIGHTS.forward(&x);
    let _ = Corrupt::<f32>::WEIGHTS.forward(&x);
    let _ = Deeper::<f32>::WEIGHTS.forward(&x);
}
