use network::prelude::*;

mod sizes {
    pub const INPUTS: usize = 8;
}
const HIDDEN: usize = 32;

network! {
    pub(crate) struct Net {
        #[init(xavier)]
        a: Dense<{ sizes::INPUTS }, HIDDEN>, Tanh,
        b: Dense<HIDDEN, { HIDDEN / 2 }>, Sigmoid,
        c: Dense<4>, Identity,
        d: Dense<1>,
    }
}

fn main() {
    assert_eq!(Net::<f64>::INPUTS, 8);
    assert_eq!(Net::<f64>::PARAMS, 8 * 32 + 32 + 32 * 16 + 16 + 16 * 4 + 4 + 4 + 1);
    let net = Net::<f64>::zeros();
    let y: SMatrix<f64, 1, 3> = net.forward(&SMatrix::<f64, 8, 3>::zeros());
    assert_eq!(y, SMatrix::<f64, 1, 3>::zeros());
}
