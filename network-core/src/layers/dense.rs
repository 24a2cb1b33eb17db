//! The fully connected layer.

use nalgebra::{SMatrix, SVector};

use crate::{kernels, Init, Rng, Scalar, Zeroable};

/// A fully connected layer `y = W x + b` with `I` inputs and `O` outputs.
///
/// `weight` has PyTorch's shape `[out, in]` (`O` rows, `I` columns; nalgebra stores it
/// column-major). Batches are matrices whose columns are samples. The struct holds the
/// parameters only (`size_of` is `(I * O + O) * size_of::<T>()`), so a value of this type
/// also serves as the layer's gradient.
#[derive(Clone, Debug, PartialEq)]
#[repr(C)]
pub struct Dense<T: Scalar, const I: usize, const O: usize> {
    /// Weights, `[O, I]`.
    pub weight: SMatrix<T, O, I>,
    /// Biases, `[O]`.
    pub bias: SVector<T, O>,
}

crate::zeroable::zeroable_struct!(
    [T: Scalar + Zeroable, const I: usize, const O: usize]
    Dense<T, I, O> {
        weight, bias,
    }
);

/// Batches of at least this many samples use the `simd` matrix products when enabled;
/// smaller ones use its one-sample products, sample after sample. (A one-sample product
/// declines exactly when every other would: by type and CPU, never midway.)
#[cfg(feature = "simd")]
const SIMD_BATCH: usize = 8;

/// A layer with fewer outputs than this, and at least [`LONG`] inputs, sums each output
/// over its inputs in [`CHAINS`] independent partial sums (see [`narrow_column`]).
const NARROW: usize = 8;

/// The fewest inputs for which [`narrow_column`] splits the sums: below, each partial
/// sum would be a chain of less than four additions, too short to gain, and the partial
/// sums cost stack (a 2-5-1 network in f64 on a Cortex-M4F needed 168 more bytes of it
/// to infer: `examples/firmware/footprint.sh`).
const LONG: usize = 4 * CHAINS;

/// Partial sums per output of a narrow layer (four: [`narrow_column`] adds them up as
/// two pairs).
const CHAINS: usize = 4;
const _: () = assert!(CHAINS == 4);

/// One sample through a layer of few outputs: `out = b + W x`. Summed in order, every
/// output would be one chain of `I` dependent additions (as many cycles as four times the
/// inputs, and nothing else to overlap it with on one sample: a 16-to-3 logits layer held
/// up the whole 4-16-16-3 training step that way). Here input `i` goes into partial sum
/// `i % 4` of its output, and an output is `b + ((s0 + s1) + (s2 + s3))`: the same order on
/// every target, so the bits are still the same everywhere.
#[inline(always)]
fn narrow_column<T: Scalar, const I: usize, const O: usize>(
    w: &[T],
    x: &[T],
    bias: &[T],
    out: &mut [T],
) {
    let mut sums = [[T::zero(); O]; CHAINS];
    // Index loops over constant bounds, which LLVM unrolls for small layers.
    for i in 0..I {
        let xi = x[i];
        for o in 0..O {
            sums[i % CHAINS][o] += w[i * O + o] * xi;
        }
    }
    for (o, y) in out.iter_mut().enumerate() {
        *y = bias[o] + ((sums[0][o] + sums[1][o]) + (sums[2][o] + sums[3][o]));
    }
}

impl<T: Scalar, const I: usize, const O: usize> Default for Dense<T, I, O> {
    fn default() -> Self {
        Self::zeros()
    }
}

impl<T: Scalar, const I: usize, const O: usize> Dense<T, I, O> {
    /// Number of trainable scalars: `I * O + O`.
    pub const PARAMS: usize = I * O + O;

    // A zero-sized layer is rejected by `network!` with a spanned error; for direct users
    // this turns it into a compile-time error at the first use.
    const NON_EMPTY: () = assert!(
        I > 0 && O > 0,
        "a Dense layer needs at least one input and one output"
    );

    /// A layer with all weights and biases zero.
    pub fn zeros() -> Self {
        Self {
            weight: SMatrix::zeros(),
            bias: SVector::zeros(),
        }
    }

    /// Draws the weights from `init` and sets the biases to zero.
    pub fn initialize(&mut self, init: Init, rng: &mut Rng) {
        init.fill(self.weight.as_mut_slice(), I, O, rng);
        self.bias.fill(T::zero());
    }

    /// Forward pass for a batch (columns are samples): `out = W x + b`, written in place.
    #[inline]
    pub fn forward<const B: usize>(&self, x: &SMatrix<T, I, B>, out: &mut SMatrix<T, O, B>) {
        self.forward_inlined(x, out);
    }

    /// [`forward`](Self::forward), always inlined in optimized builds: what the generated
    /// training pass calls. On a tiny network a call costs more than the work (the x86-64
    /// calling convention saves no vector register across a call); the 4-16-16-3 SGD step
    /// took about 5% less time with this, `add_outer_product` and `backward_input`
    /// inlined (`cargo bench --bench interleaved`, alternating builds). Only the training pass forces it: forcing it
    /// at every call (inference, quantization) made release builds of the examples take a
    /// third longer. Not in debug builds (`debug_assertions`), where forcing it made a
    /// 256-layer declaration take 1.5x as long to rebuild (`scripts/compile-time.sh
    /// depth`).
    #[doc(hidden)]
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn forward_inlined<const B: usize>(
        &self,
        x: &SMatrix<T, I, B>,
        out: &mut SMatrix<T, O, B>,
    ) {
        let () = Self::NON_EMPTY;
        #[cfg(feature = "simd")]
        if B >= SIMD_BATCH {
            for oc in out.as_mut_slice().chunks_exact_mut(O) {
                oc.copy_from_slice(self.bias.as_slice());
            }
            let (w, xs) = (self.weight.as_slice(), x.as_slice());
            if crate::simd::gemm(
                O,
                B,
                I,
                T::one(),
                w,
                (1, O),
                xs,
                (1, I),
                out.as_mut_slice(),
                O,
            ) {
                return;
            }
        } else {
            let (w, bias) = (self.weight.as_slice(), self.bias.as_slice());
            let chunks = x.as_slice().chunks_exact(I);
            if chunks
                .zip(out.as_mut_slice().chunks_exact_mut(O))
                .all(|(xc, oc)| crate::simd::gemv::<T, O, I>(w, xc, bias, oc))
            {
                return;
            }
        }
        let w = self.weight.as_slice();
        let bias = self.bias.as_slice();
        for (xc, oc) in x
            .as_slice()
            .chunks_exact(I)
            .zip(out.as_mut_slice().chunks_exact_mut(O))
        {
            if O < NARROW && I >= LONG {
                narrow_column::<T, I, O>(w, xc, bias, oc);
                continue;
            }
            oc.copy_from_slice(bias);
            for (wc, &xi) in w.chunks_exact(O).zip(xc) {
                kernels::axpy(xi, wc, oc);
            }
        }
    }

    /// Accumulates the parameter gradients for a batch: `dW += dy x^T`, `db += sum dy`,
    /// where `x` is the layer's input and `dy = dL/d(Wx+b)`.
    #[inline]
    pub fn backward_params<const B: usize>(
        &self,
        x: &SMatrix<T, I, B>,
        dy: &SMatrix<T, O, B>,
        grad: &mut Self,
    ) {
        grad.add_outer_product(T::one(), x, dy, false);
    }

    /// As [`backward_params`](Self::backward_params), but writes the gradients
    /// (`dW = dy x^T`, `db = sum dy`) instead of adding them: `grad` needs no clearing
    /// first, and the batch product never reads it. The bits are those of
    /// `backward_params` into a zeroed `grad`.
    #[inline]
    pub fn backward_params_overwrite<const B: usize>(
        &self,
        x: &SMatrix<T, I, B>,
        dy: &SMatrix<T, O, B>,
        grad: &mut Self,
    ) {
        grad.add_outer_product(T::one(), x, dy, true);
    }

    /// Plain SGD fused with the gradient: `W -= lr dy x^T`, `b -= lr sum dy`, without a
    /// gradient buffer. Call it after [`backward_input`](Self::backward_input), which
    /// needs the weights from before the update.
    #[inline]
    pub fn sgd_update<const B: usize>(
        &mut self,
        x: &SMatrix<T, I, B>,
        dy: &SMatrix<T, O, B>,
        lr: T,
    ) {
        self.add_outer_product(-lr, x, dy, false);
    }

    /// `W += alpha dy x^T`, `b += alpha sum dy`: column `i` of `W` gains
    /// `alpha x[i, b] dy[:, b]` for each sample, a contiguous update. With `overwrite`,
    /// `=` instead of `+=` (as if `W` and `b` were zero).
    // Inlined in optimized builds: see `forward_inlined`.
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn add_outer_product<const B: usize>(
        &mut self,
        alpha: T,
        x: &SMatrix<T, I, B>,
        dy: &SMatrix<T, O, B>,
        overwrite: bool,
    ) {
        let () = Self::NON_EMPTY;
        let xs = x.as_slice();
        let dys = dy.as_slice();
        // The batch product overwrites by itself; every other path adds into zeros,
        // cleared once here (or below, if the batch product declines).
        #[cfg(feature = "simd")]
        let batch_product = B >= SIMD_BATCH;
        #[cfg(not(feature = "simd"))]
        let batch_product = false;
        if overwrite && !batch_product {
            // The slice's `fill` (a `memset`): nalgebra's `Matrix::fill` walks the
            // elements one by one through its strided iterator, which made the 4-16-16-3
            // step 2.7x slower (536 against 200 ns).
            self.weight.as_mut_slice().fill(T::zero());
        }
        #[cfg(feature = "simd")]
        let done = {
            let w = self.weight.as_mut_slice();
            if B >= SIMD_BATCH {
                let gemm = if overwrite {
                    crate::simd::gemm_overwrite
                } else {
                    crate::simd::gemm
                };
                gemm(O, I, B, alpha, dys, (1, O), xs, (I, 1), w, O)
            } else {
                let mut samples = xs.chunks_exact(I).zip(dys.chunks_exact(O));
                samples.all(|(xc, dyc)| crate::simd::ger::<T, O, I>(alpha, dyc, xc, w))
            }
        };
        #[cfg(not(feature = "simd"))]
        let done = false;
        if !done {
            let w = self.weight.as_mut_slice();
            if overwrite && batch_product {
                // Declined before writing anything.
                w.fill(T::zero());
            }
            for b in 0..B {
                // Column i of W gains x[i] alpha dy: index loops over constant bounds,
                // which LLVM unrolls and vectorizes best for small layers.
                let dy = &dys[b * O..(b + 1) * O];
                for i in 0..I {
                    let xi = xs[b * I + i];
                    let column = &mut w[i * O..(i + 1) * O];
                    for o in 0..O {
                        column[o] += alpha * dy[o] * xi;
                    }
                }
            }
        }
        let bias = self.bias.as_mut_slice();
        if overwrite {
            bias.fill(T::zero());
        }
        for b in 0..B {
            kernels::axpy(alpha, &dys[b * O..(b + 1) * O], bias);
        }
    }

    /// The input gradient for a batch: `dx = W^T dy`, written in place.
    // Inlined in optimized builds: see `forward_inlined`.
    #[cfg_attr(debug_assertions, inline)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn backward_input<const B: usize>(&self, dy: &SMatrix<T, O, B>, dx: &mut SMatrix<T, I, B>) {
        let () = Self::NON_EMPTY;
        let w = self.weight.as_slice();
        #[cfg(feature = "simd")]
        if B >= SIMD_BATCH {
            // W^T: element (i, o) at w[i * O + o].
            dx.as_mut_slice().fill(T::zero());
            let dys = dy.as_slice();
            if crate::simd::gemm(
                I,
                B,
                O,
                T::one(),
                w,
                (O, 1),
                dys,
                (1, O),
                dx.as_mut_slice(),
                I,
            ) {
                return;
            }
        } else {
            let chunks = dy.as_slice().chunks_exact(O);
            if chunks
                .zip(dx.as_mut_slice().chunks_exact_mut(I))
                .all(|(dyc, dxc)| crate::simd::gemv_t::<T, O, I>(w, dyc, dxc))
            {
                return;
            }
        }
        let (dys, dxs) = (dy.as_slice(), dx.as_mut_slice());
        for b in 0..B {
            let dyc = &dys[b * O..(b + 1) * O];
            for i in 0..I {
                dxs[b * I + i] = kernels::dot(&w[i * O..(i + 1) * O], dyc);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use nalgebra::{Matrix2x3, Vector2};

    fn layer() -> Dense<f64, 3, 2> {
        Dense {
            weight: Matrix2x3::new(1.0, 2.0, 3.0, -1.0, 0.5, 0.0),
            bias: Vector2::new(0.1, -0.2),
        }
    }

    #[test]
    fn forward_by_hand() {
        let x = SMatrix::<f64, 3, 2>::new(1.0, 0.0, 1.0, 2.0, 0.0, 1.0);
        let mut y = SMatrix::<f64, 2, 2>::zeros();
        layer().forward(&x, &mut y);
        // `new` is row-major, so the columns are x0 = (1, 1, 0) and x1 = (0, 2, 1).
        // W x0 + b = (1 + 2 + 0.1, -1 + 0.5 - 0.2); W x1 + b = (4 + 3 + 0.1, 1 - 0.2).
        assert_relative_eq!(
            y,
            SMatrix::<f64, 2, 2>::new(3.1, 7.1, -0.7, 0.8),
            epsilon = 1e-12
        );
    }

    #[test]
    fn backward_matches_nalgebra_reference_math() {
        let l = layer();
        let x = SMatrix::<f64, 3, 2>::new(1.0, 0.0, 1.0, 2.0, 0.0, 1.0);
        let dy = SMatrix::<f64, 2, 2>::new(0.5, -1.0, 2.0, 0.25);
        let mut grad = Dense::zeros();
        l.backward_params(&x, &dy, &mut grad);
        l.backward_params(&x, &dy, &mut grad); // accumulates
        assert_relative_eq!(grad.weight, 2.0 * dy * x.transpose(), epsilon = 1e-12);
        assert_relative_eq!(grad.bias, 2.0 * dy.column_sum(), epsilon = 1e-12);
        let mut dx = SMatrix::<f64, 3, 2>::zeros();
        l.backward_input(&dy, &mut dx);
        assert_relative_eq!(dx, l.weight.transpose() * dy, epsilon = 1e-12);
    }

    /// Overwriting ignores what the gradient held (NaN here) and gives the bits of
    /// accumulating into zeros, on the batch product's path and on the per-sample one.
    fn check_overwrite<T: Scalar, const B: usize>() {
        let mut rng = Rng::seed_from_u64(3);
        let mut layer = Dense::<T, 24, 40>::zeros();
        layer.initialize(Init::Xavier, &mut rng);
        let x = SMatrix::<T, 24, B>::from_fn(|_, _| T::of(rng.uniform(-1.0, 1.0)));
        let dy = SMatrix::<T, 40, B>::from_fn(|_, _| T::of(rng.uniform(-1.0, 1.0)));
        let mut zeroed = Dense::zeros();
        layer.backward_params(&x, &dy, &mut zeroed);
        let mut garbage = Dense::<T, 24, 40>::zeros();
        garbage.weight.fill(T::of(f64::NAN));
        garbage.bias.fill(T::of(f64::NAN));
        layer.backward_params_overwrite(&x, &dy, &mut garbage);
        let bits = |d: &Dense<T, 24, 40>| {
            let all = d.weight.iter().chain(d.bias.iter());
            all.map(|v| v.as_f64().to_bits())
                .collect::<std::vec::Vec<_>>()
        };
        assert_eq!(bits(&garbage), bits(&zeroed));
    }

    #[test]
    fn overwriting_gradients_equals_accumulating_into_zeros() {
        check_overwrite::<f32, 1>();
        check_overwrite::<f32, 64>();
        check_overwrite::<f64, 3>();
        check_overwrite::<f64, 64>();
        let mut rng = Rng::seed_from_u64(4);
        let steps = DenseSteps::<f64, 3, 2>::zeros();
        let x = SMatrix::<f64, 12, 2>::from_fn(|_, _| rng.uniform(-1.0, 1.0));
        let dy = SMatrix::<f64, 8, 2>::from_fn(|_, _| rng.uniform(-1.0, 1.0));
        let mut zeroed = DenseSteps::<f64, 3, 2>::zeros();
        let mut garbage = DenseSteps::<f64, 3, 2>::zeros();
        garbage.weight.fill(f64::NAN);
        garbage.bias.fill(f64::NAN);
        steps.backward_params(&x, &dy, &mut zeroed);
        steps.backward_params_overwrite(&x, &dy, &mut garbage);
        assert_eq!(garbage, zeroed);
    }

    #[test]
    fn fused_sgd_update_equals_gradient_then_step() {
        let x = SMatrix::<f64, 3, 2>::new(1.0, 0.0, 1.0, 2.0, 0.0, 1.0);
        let dy = SMatrix::<f64, 2, 2>::new(0.5, -1.0, 2.0, 0.25);
        let mut fused = layer();
        fused.sgd_update(&x, &dy, 0.1);
        let reference = layer();
        assert_relative_eq!(
            fused.weight,
            reference.weight - 0.1 * dy * x.transpose(),
            epsilon = 1e-12
        );
        assert_relative_eq!(
            fused.bias,
            reference.bias - 0.1 * dy.column_sum(),
            epsilon = 1e-12
        );
    }

    /// The layer's three products against nalgebra's, for odd sizes.
    fn check_against_nalgebra<const I: usize, const O: usize, const B: usize>() {
        let mut rng = Rng::seed_from_u64((I * 1000 + O * 10 + B) as u64);
        let mut layer = Dense::<f64, I, O>::zeros();
        layer.initialize(Init::Xavier, &mut rng);
        layer.bias = SVector::from_fn(|_, _| rng.uniform(-1.0, 1.0));
        let x = SMatrix::<f64, I, B>::from_fn(|_, _| rng.uniform(-1.0, 1.0));
        let dy = SMatrix::<f64, O, B>::from_fn(|_, _| rng.uniform(-1.0, 1.0));
        let mut y = SMatrix::<f64, O, B>::zeros();
        layer.forward(&x, &mut y);
        let mut reference = layer.weight * x;
        for mut column in reference.column_iter_mut() {
            column += layer.bias;
        }
        assert_relative_eq!(y, reference, epsilon = 1e-12);
        let mut grad = Dense::zeros();
        layer.backward_params(&x, &dy, &mut grad);
        assert_relative_eq!(grad.weight, dy * x.transpose(), epsilon = 1e-12);
        assert_relative_eq!(grad.bias, dy.column_sum(), epsilon = 1e-12);
        let mut dx = SMatrix::<f64, I, B>::zeros();
        layer.backward_input(&dy, &mut dx);
        assert_relative_eq!(dx, layer.weight.transpose() * dy, epsilon = 1e-12);
    }

    #[test]
    fn products_match_nalgebra_for_odd_sizes() {
        check_against_nalgebra::<1, 1, 1>();
        check_against_nalgebra::<3, 7, 1>();
        check_against_nalgebra::<7, 3, 17>();
        check_against_nalgebra::<17, 33, 3>();
        check_against_nalgebra::<33, 17, 7>();
        check_against_nalgebra::<129, 1, 33>();
        check_against_nalgebra::<1, 129, 2>();
    }

    /// In f32 with batches large enough for the `simd` products when that feature is on.
    fn check_f32_batches<const I: usize, const O: usize, const B: usize>() {
        let mut rng = Rng::seed_from_u64((I * 7 + O * 3 + B) as u64);
        let mut layer = Dense::<f32, I, O>::zeros();
        // Drawn directly, not by `initialize`: its libm `sqrt` is inline assembly, which
        // Miri (`scripts/miri.sh` runs this test) cannot run.
        let bound = 1.0 / (I as f64 + 1.0);
        layer.weight = SMatrix::from_fn(|_, _| rng.uniform(-bound, bound) as f32);
        layer.bias = SVector::from_fn(|_, _| rng.uniform(-1.0, 1.0) as f32);
        let x = SMatrix::<f32, I, B>::from_fn(|_, _| rng.uniform(-1.0, 1.0) as f32);
        let dy = SMatrix::<f32, O, B>::from_fn(|_, _| rng.uniform(-1.0, 1.0) as f32);
        let mut y = SMatrix::<f32, O, B>::zeros();
        layer.forward(&x, &mut y);
        let mut reference = layer.weight * x;
        for mut column in reference.column_iter_mut() {
            column += layer.bias;
        }
        assert_relative_eq!(y, reference, epsilon = 1e-4, max_relative = 1e-4);
        let mut grad = Dense::zeros();
        layer.backward_params(&x, &dy, &mut grad);
        assert_relative_eq!(
            grad.weight,
            dy * x.transpose(),
            epsilon = 1e-4,
            max_relative = 1e-4
        );
        let mut dx = SMatrix::<f32, I, B>::zeros();
        layer.backward_input(&dy, &mut dx);
        assert_relative_eq!(
            dx,
            layer.weight.transpose() * dy,
            epsilon = 1e-4,
            max_relative = 1e-4
        );
        let mut updated = layer.clone();
        updated.sgd_update(&x, &dy, 0.1);
        assert_relative_eq!(
            updated.weight,
            layer.weight - dy * x.transpose() * 0.1,
            epsilon = 1e-4,
            max_relative = 1e-4
        );
    }

    #[test]
    fn f32_batch_products_match_nalgebra() {
        // One sample and small batches (the `simd` one-sample products, or portable code
        // for small layers), then batches of 8 and more (the `simd` matrix products).
        check_f32_batches::<16, 16, 1>();
        check_f32_batches::<17, 33, 3>();
        check_f32_batches::<7, 33, 8>();
        // Under Miri (`scripts/miri.sh`) the sizes above reach every kernel (one sample,
        // a masked column, several row panels at batch 8); the larger ones take hours.
        if cfg!(miri) {
            return;
        }
        check_f32_batches::<9, 129, 1>();
        check_f32_batches::<4, 16, 1>();
        check_f32_batches::<33, 7, 7>();
        check_f32_batches::<129, 17, 33>();
        check_f32_batches::<33, 129, 17>();
        check_f32_batches::<65, 48, 32>();
    }

    #[test]
    fn size_is_parameters_only() {
        assert_eq!(
            core::mem::size_of::<Dense<f32, 784, 128>>(),
            Dense::<f32, 784, 128>::PARAMS * 4
        );
    }

    #[test]
    fn initialization_is_seeded_and_bounded() {
        let mut a = Dense::<f32, 10, 4>::zeros();
        let mut b = Dense::<f32, 10, 4>::zeros();
        a.initialize(Init::He, &mut Rng::seed_from_u64(5));
        b.initialize(Init::He, &mut Rng::seed_from_u64(5));
        assert_eq!(a, b);
        let bound = Init::He.bound(10, 4) as f32;
        assert!(a.weight.iter().all(|w| w.abs() <= bound) && a.weight.iter().any(|w| *w != 0.0));
    }
}

/// A dense layer applied to every step of a sequence: `y_t = W x_t + b` for each of a
/// sample's steps, with one `W` (`[O, I]`) and `b` shared by all steps (what
/// `nn.Linear` does to the last dimension of a `[B, T, I]` tensor). Values are a column
/// per sample of `T * I` inputs (`t * I + i`) and `T * O` outputs; `network!` uses it
/// for a `Dense` after a recurrent layer's sequence output. Same fields, names and
/// initialization as [`Dense`].
#[derive(Clone, Debug, PartialEq)]
pub struct DenseSteps<T: Scalar, const I: usize, const O: usize> {
    /// `[O, I]`, shared by every step.
    pub weight: SMatrix<T, O, I>,
    /// `[O]`.
    pub bias: SVector<T, O>,
}

crate::zeroable::zeroable_struct!(
    [T: Scalar + Zeroable, const I: usize, const O: usize]
    DenseSteps<T, I, O> {
        weight, bias,
    }
);

impl<T: Scalar, const I: usize, const O: usize> DenseSteps<T, I, O> {
    /// Every parameter zero.
    pub fn zeros() -> Self {
        Self {
            weight: SMatrix::zeros(),
            bias: SVector::zeros(),
        }
    }

    /// Weights drawn like [`Dense::initialize`] (fans `I` and `O`), zero biases.
    pub fn initialize(&mut self, init: Init, rng: &mut Rng) {
        init.fill(self.weight.as_mut_slice(), I, O, rng);
        self.bias.fill(T::zero());
    }

    /// Calls `f(x_t, y_t)` for every step of every sample (`XI = T * I`, `XO = T * O`).
    #[inline(always)]
    fn steps<const XI: usize, const XO: usize, const B: usize>(
        x: &SMatrix<T, XI, B>,
        y: &SMatrix<T, XO, B>,
        mut f: impl FnMut(&[T], &[T]),
    ) {
        for (xs, ys) in x
            .as_slice()
            .chunks_exact(I)
            .zip(y.as_slice().chunks_exact(O))
        {
            f(xs, ys);
        }
    }

    /// [`forward`](Self::forward), under the name the generated training pass calls for
    /// every dense layer (see [`Dense::forward_inlined`]).
    #[doc(hidden)]
    #[inline]
    pub fn forward_inlined<const XI: usize, const XO: usize, const B: usize>(
        &self,
        x: &SMatrix<T, XI, B>,
        out: &mut SMatrix<T, XO, B>,
    ) {
        self.forward(x, out);
    }

    /// Forward pass for a batch of sequences.
    pub fn forward<const XI: usize, const XO: usize, const B: usize>(
        &self,
        x: &SMatrix<T, XI, B>,
        out: &mut SMatrix<T, XO, B>,
    ) {
        for (xs, ys) in x
            .as_slice()
            .chunks_exact(I)
            .zip(out.as_mut_slice().chunks_exact_mut(O))
        {
            let y = self.forward_step(&SVector::<T, I>::from_column_slice(xs));
            ys.copy_from_slice(y.as_slice());
        }
    }

    /// One step: `W x + b` (the arithmetic of [`forward`](Self::forward), for streaming).
    #[inline]
    pub fn forward_step(&self, x: &SVector<T, I>) -> SVector<T, O> {
        self.weight * x + self.bias
    }

    /// Accumulates the parameter gradients over every step of the batch.
    pub fn backward_params<const XI: usize, const XO: usize, const B: usize>(
        &self,
        x: &SMatrix<T, XI, B>,
        dy: &SMatrix<T, XO, B>,
        grad: &mut Self,
    ) {
        Self::steps(x, dy, |xs, ds| {
            let d = SVector::<T, O>::from_column_slice(ds);
            grad.weight.ger(
                T::one(),
                &d,
                &SVector::<T, I>::from_column_slice(xs),
                T::one(),
            );
            grad.bias += d;
        });
    }

    /// As [`backward_params`](Self::backward_params) into a zeroed `grad`: writes the
    /// gradients whatever `grad` held.
    pub fn backward_params_overwrite<const XI: usize, const XO: usize, const B: usize>(
        &self,
        x: &SMatrix<T, XI, B>,
        dy: &SMatrix<T, XO, B>,
        grad: &mut Self,
    ) {
        grad.weight.as_mut_slice().fill(T::zero());
        grad.bias.as_mut_slice().fill(T::zero());
        self.backward_params(x, dy, grad);
    }

    /// Plain SGD fused with the gradient (call it after
    /// [`backward_input`](Self::backward_input), which needs the weights from before).
    pub fn sgd_update<const XI: usize, const XO: usize, const B: usize>(
        &mut self,
        x: &SMatrix<T, XI, B>,
        dy: &SMatrix<T, XO, B>,
        lr: T,
    ) {
        // Step by step in place (`W -= lr dy_t x_t^T`): no gradient buffer, no temporary.
        Self::steps(x, dy, |xs, ds| {
            let d = SVector::<T, O>::from_column_slice(ds);
            self.weight
                .ger(-lr, &d, &SVector::<T, I>::from_column_slice(xs), T::one());
            self.bias.axpy(-lr, &d, T::one());
        });
    }

    /// The input gradient of every step: `dx_t = W^T dy_t` (overwrites `dx`).
    pub fn backward_input<const XI: usize, const XO: usize, const B: usize>(
        &self,
        dy: &SMatrix<T, XO, B>,
        dx: &mut SMatrix<T, XI, B>,
    ) {
        for (ds, xs) in dy
            .as_slice()
            .chunks_exact(O)
            .zip(dx.as_mut_slice().chunks_exact_mut(I))
        {
            let d = self.weight.tr_mul(&SVector::<T, O>::from_column_slice(ds));
            xs.copy_from_slice(d.as_slice());
        }
    }
}
