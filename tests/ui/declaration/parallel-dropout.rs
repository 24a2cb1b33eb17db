// Dropout draws other masks on several threads than on one: `DataParallel` refuses the
// network at compile time, naming the reason.
use network::parallel::DataParallel;
use network::prelude::*;

network! {
    struct Net { a: Dense<4, 8>, Relu, Dropout(0.5), b: Dense<8, 2> }
}

fn main() {
    let _ = DataParallel::<f32, Net<f32>, _, 4, 2, 16>::new(SoftmaxCrossEntropy, 2);
}
