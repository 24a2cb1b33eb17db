//! A weights file whose tensors do not fit the declaration: one error on the attribute,
//! naming the tensor and both shapes; the code using the network gets no follow-up error.
use network::prelude::*;

network! {
    #[weights("../fixtures/tiny.bin")]
    struct Wider { a: Dense<2, 4>, Relu, b: Dense<4, 1> }
}

static NET: Wider<f32> = Wider::WEIGHTS;

fn main() {
    let _ = NET.forward(&SVector::<f32, 2>::zeros());
}
