use network::prelude::*;

network! {
    struct Net {
        Input<1, 28>,
        conv: Conv1d<8, 3>, Relu,
        MaxPool1d<2>,
        fc: Dense<100, 10>,
    }
}

// The user's code compiles against what the declaration meant: no follow-up errors.
fn main() {
    let net = Net::<f32>::random(&mut Rng::seed_from_u64(1));
    let x = SVector::<f32, 28>::zeros();
    let y: SVector<f32, 10> = net.forward(&x);
    let _ = y;
}
