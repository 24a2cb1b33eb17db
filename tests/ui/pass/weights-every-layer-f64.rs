//! `#[weights]` with every layer that has tensors (dense, batch norm with its running
//! statistics, layer norm, inside a residual block) from an f64 file: the constant equals
//! the file loaded at run time, buffers included.
use network::prelude::*;

network! {
    #[derive(Debug, PartialEq)]
    #[weights("../fixtures/normed-f64.bin")]
    struct Normed {
        a: Dense<3, 4>, Relu,
        n: BatchNorm,
        block: Residual { b: Dense<4, 4>, Tanh, m: LayerNorm },
        out: Dense<4, 2>,
    }
}

static NET: Normed<f64> = Normed::WEIGHTS;

fn main() {
    let mut loaded = Normed::<f64>::zeros();
    network::raw::load_bytes(&mut loaded, include_bytes!("../fixtures/normed-f64.bin")).unwrap();
    assert_eq!(NET, loaded);
    // The running statistics came from the file too (not their initial 0 and 1).
    assert_ne!(NET.n.running_var, Normed::<f64>::random(&mut Rng::seed_from_u64(0)).n.running_var);
    let x = SVector::<f64, 3>::new(0.5, -1.0, 2.0);
    assert_eq!(NET.forward(&x), loaded.forward(&x));
}
