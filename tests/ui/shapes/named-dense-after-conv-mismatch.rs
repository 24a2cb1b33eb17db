use network::prelude::*;
const CHANNELS: usize = 8;

network! {
    struct Net {
        Input<2, 10>,
        conv: Conv1d<CHANNELS, 3>,
        fc: Dense<100, 3>,
    }
}

// The user's code compiles against what the declaration meant: no follow-up errors.
fn main() {
    let net = Net::<f32>::random(&mut Rng::seed_from_u64(1));
    let x = SVector::<f32, 20>::zeros();
    let y: SVector<f32, 3> = net.forward(&x);
    let _ = y;
}
