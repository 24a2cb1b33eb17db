use network::prelude::*;
const PAD: usize = 2;

network! {
    struct Net {
        Input<2, 3, 3>,
        MaxPool2d<2>(padding = PAD),
        fc: Dense<3>,
    }
}

// The user's code compiles against what the declaration meant: no follow-up errors.
fn main() {
    let net = Net::<f32>::random(&mut Rng::seed_from_u64(1));
    let x = SVector::<f32, 18>::zeros();
    let y: SVector<f32, 3> = net.forward(&x);
    let _ = y;
}
