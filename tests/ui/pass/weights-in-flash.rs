//! `#[weights]`: the raw file decoded at compile time into a constant, kept in a `static`
//! (flash on a microcontroller), equal to the same file loaded at run time.
use network::prelude::*;

network! {
    #[derive(Debug, PartialEq)]
    #[weights("../fixtures/tiny.bin")]
    struct Tiny { a: Dense<2, 3>, Relu, b: Dense<3, 1> }
}

const THREE: usize = 3;

network! {
    /// The same file, with a size given as a constant.
    #[weights("../fixtures/tiny.bin")]
    struct Named { a: Dense<2, THREE>, Relu, b: Dense<THREE, 1> }
}

static TINY: Tiny<f32> = Tiny::WEIGHTS;

fn main() {
    let mut loaded = Tiny::<f32>::zeros();
    network::raw::load_bytes(&mut loaded, include_bytes!("../fixtures/tiny.bin")).unwrap();
    assert_eq!(TINY, loaded);
    let x = SVector::<f32, 2>::new(0.5, -1.0);
    assert_eq!(TINY.forward(&x), loaded.forward(&x));
    assert_eq!(Named::<f32>::WEIGHTS.forward(&x), loaded.forward(&x));
}
