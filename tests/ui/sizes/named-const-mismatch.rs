use network::prelude::*;

const HIDDEN: usize = 16;
const DEEPER_IN: usize = 8;

network! {
    struct Net {
        hidden: Dense<4, HIDDEN>, Relu,
        deeper: Dense<DEEPER_IN, 3>,
    }
}

fn main() {
    let net = Net::<f32>::zeros();
    let _ = net.forward(&SVector::<f32, 4>::zeros());
}
