//! A declaration with its own mistake and `#[weights]`: the mistake is the only error,
//! the code using `WEIGHTS` adds none.
use network::prelude::*;

network! {
    #[weights("../fixtures/tiny.bin")]
    struct Tiny { a: Dense<2, 3>, Relu, b: Desne<3, 1> }
}

static NET: Tiny<f32> = Tiny::WEIGHTS;

fn main() {
    let _ = NET.forward(&SVector::<f32, 2>::zeros());
}
