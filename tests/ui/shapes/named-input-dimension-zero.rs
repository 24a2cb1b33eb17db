use network::prelude::*;
const LENGTH: usize = 0;

network! {
    struct Net {
        Input<2, LENGTH>,
        conv: Conv1d<4, 1>,
        fc: Dense<3>,
    }
}

// The user's code compiles against what the declaration meant: no follow-up errors.
fn main() {
    let net = Net::<f32>::random(&mut Rng::seed_from_u64(1));
    let x = SVector::<f32, 2>::zeros();
    let y: SVector<f32, 3> = net.forward(&x);
    let _ = y;
}
