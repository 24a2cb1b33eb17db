//! The same mismatch with the size given as a constant: a const assertion with the same
//! message.
use network::prelude::*;

const WIDTH: usize = 4;

network! {
    #[weights("../fixtures/tiny.bin")]
    struct Wider { a: Dense<2, WIDTH>, Relu, b: Dense<WIDTH, 1> }
}

static NET: Wider<f32> = Wider::WEIGHTS;

fn main() {
    let _ = NET.forward(&SVector::<f32, 2>::zeros());
}
