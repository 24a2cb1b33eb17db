use network::prelude::*;

network! {
    struct Net {
        Input<5, 3>,
        rnn: Gru<3, 8>,
        fc: Dense<3>,
    }
}

// The user's code compiles against what the declaration meant: no follow-up errors.
fn main() {
    let net = Net::<f32>::random(&mut Rng::seed_from_u64(1));
    let x = SVector::<f32, 15>::zeros();
    let y: SVector<f32, 3> = net.forward(&x);
    let _ = y;
}
