// A batch of 48 is not a whole number of parts of 32: a compile error, not a lost tail.
use network::parallel::DataParallel;
use network::prelude::*;

network! {
    struct Net { a: Dense<4, 8>, Relu, b: Dense<8, 2> }
}

fn main() {
    let net = Net::<f32>::zeros();
    let mut grads = Net::<f32>::zeros();
    let mut parallel = DataParallel::<f32, Net<f32>, _, 4, 2, 32>::new(SoftmaxCrossEntropy, 2).unwrap();
    let x = SMatrix::<f32, 4, 48>::zeros();
    let y = SMatrix::<f32, 2, 48>::zeros();
    let _ = parallel.compute_gradients(&net, &x, &y, &mut grads);
}
