use network::prelude::*;

network! {
    struct Net {
        hidden: Dense<4, 16>, Relu,
        Transpose,
        fc: Dense<3>,
    }
}

// The user's code compiles against what the declaration meant: no follow-up errors.
fn main() {
    let net = Net::<f32>::random(&mut Rng::seed_from_u64(1));
    let x = SVector::<f32, 4>::zeros();
    let y: SVector<f32, 3> = net.forward(&x);
    let _ = y;
}
