//! `Trainer::fit::<0>`: one error, from the tape it needs.
use network::data::Dataset;
use network::prelude::*;

network! {
    struct Net { a: Dense<2, 3>, Relu, b: Dense<3, 2> }
}

fn main() {
    let data = Dataset::from_csv_str("x,y,label\n0,0,0\n1,1,1\n").unwrap();
    let mut t = Trainer::new(
        Net::<f32>::zeros(),
        Sgd::new(0.1),
        Constant(0.1),
        SoftmaxCrossEntropy,
        TrainConfig::default(),
    );
    let _ = t.fit::<0>(&data, &[0, 1], None);
}
