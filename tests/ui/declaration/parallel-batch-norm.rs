// Batch normalization needs the whole batch's statistics: `fit_parallel` refuses the
// network at compile time, naming the reason.
use network::data::Dataset;
use network::prelude::*;

network! {
    struct Net { a: Dense<4, 8>, bn: BatchNorm, Relu, b: Dense<8, 2> }
}

fn main() {
    let data = Dataset::from_csv_str("a,b,c,d,label\n1,2,3,4,0\n").unwrap();
    let net = Net::<f32>::zeros();
    let mut trainer = Trainer::with_optimizer_rate(
        net,
        Sgd::new(0.1),
        SoftmaxCrossEntropy,
        TrainConfig::default(),
    );
    let _ = trainer.fit_parallel::<64, 32>(&data, &[0], None, 2);
}
