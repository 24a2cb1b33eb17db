use network::prelude::*;

const WIDTH: usize = 16;
const NARROW: usize = 8;

network! {
    struct Net {
        input: Dense<4, WIDTH>, Relu,
        block: Residual {
            outer: Residual {
                a: Dense<WIDTH, NARROW>, Relu,
            },
        },
        logits: Dense<WIDTH, 3>,
    }
}

fn main() {
    let net = Net::<f32>::zeros();
    let _ = net.forward(&SVector::<f32, 4>::zeros());
}
