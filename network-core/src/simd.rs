//! Matrix products for batches on x86-64, with AVX-512 or with AVX2 and FMA, chosen at
//! run time (feature `simd`, which needs `std` for CPU detection), and the one-sample
//! products of a dense layer ([`gemv`], [`gemv_t`], [`ger`]) with AVX2 and FMA. Everything
//! else, and every other target, uses the portable kernels; so does any product this
//! module declines.
//!
//! The kernel keeps a tile of `C` in registers (32 x 12 with AVX-512, 16 x 6 with AVX2)
//! while it walks a block of at most 256 products along `k`, applying `alpha` once at
//! the end; `B` is read in place (its rows or its columns contiguous), a transposed `A`
//! is copied a row panel at a time into a stack buffer; rows past the last full vector
//! are loaded and stored with masks, never by scalar code. No heap, no state.
//!
//! FMA rounds once where the portable kernels round twice, so results differ from the
//! portable path (and a batch from its samples run one at a time) in the last bits: turn
//! `simd` off for bit-identical results across targets (the firmware comparison does, by
//! building without `std`).

use core::any::TypeId;

use crate::Scalar;

/// `C[m x n] += alpha A[m x k] B[k x n]`: element `(i, p)` of `A` is
/// `a[i * a_strides.0 + p * a_strides.1]`, element `(p, j)` of `B` is
/// `b[p * b_strides.0 + j * b_strides.1]`, and `C` is column-major (`c[i + j * ldc]`).
/// Returns `false` (and does nothing) unless `T` is `f32`, one stride of `A` and one of
/// `B` is 1, and the CPU has AVX-512F, or AVX2 and FMA.
#[allow(clippy::too_many_arguments)] // a GEMM's shape and strides
pub fn gemm<T: Scalar>(
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: &[T],
    a_strides: (usize, usize),
    b: &[T],
    b_strides: (usize, usize),
    c: &mut [T],
    ldc: usize,
) -> bool {
    let product = (m, n, k, alpha, a, a_strides, b, b_strides);
    gemm_dispatch(product, c, ldc, false)
}

/// As [`gemm`], but `C = alpha A B`: what `c` held is never read, so it needs no
/// clearing first. The results are the bits [`gemm`] gives into a zeroed `c`. Also
/// returns `false` when `k` is 0 (`c` is then left as it was).
#[allow(clippy::too_many_arguments)] // a GEMM's shape and strides
pub fn gemm_overwrite<T: Scalar>(
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: &[T],
    a_strides: (usize, usize),
    b: &[T],
    b_strides: (usize, usize),
    c: &mut [T],
    ldc: usize,
) -> bool {
    let product = (m, n, k, alpha, a, a_strides, b, b_strides);
    gemm_dispatch(product, c, ldc, true)
}

/// Whether [`gemm`] runs for `f32` on this CPU rather than declining: what a caller
/// checks before it sets up buffers for the products.
pub(crate) fn gemm_runs() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        x86::Choice::detect().is_some()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A product's shape, `alpha` and operands, as [`gemm`] takes them.
type Operands<'a, T> = (
    usize,
    usize,
    usize,
    T,
    &'a [T],
    (usize, usize),
    &'a [T],
    (usize, usize),
);

fn gemm_dispatch<T: Scalar>(
    product: Operands<'_, T>,
    c: &mut [T],
    ldc: usize,
    overwrite: bool,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        match x86::Choice::detect() {
            Some(isa) => gemm_with(isa, product, c, ldc, overwrite),
            None => false,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (product, c, ldc, overwrite);
        false
    }
}

/// [`gemm`] with the instruction set chosen by the caller, who has checked that the CPU
/// supports it.
#[cfg(target_arch = "x86_64")]
fn gemm_with<T: Scalar>(
    isa: x86::Choice,
    (m, n, k, alpha, a, a_strides, b, b_strides): Operands<'_, T>,
    c: &mut [T],
    ldc: usize,
    overwrite: bool,
) -> bool {
    if TypeId::of::<T>() != TypeId::of::<f32>()
        || m == 0
        || n == 0
        || k == 0
        || (a_strides.0 != 1 && a_strides.1 != 1)
        || (b_strides.0 != 1 && b_strides.1 != 1)
    {
        return false;
    }
    // Bounds, checked once: every index the kernel touches is inside the slices. The
    // arithmetic is checked too: a stride large enough to wrap `usize` would otherwise
    // pass and let the kernel read and write outside the slices.
    let last = |rows: usize, cols: usize, (s0, s1): (usize, usize)| {
        (rows - 1)
            .checked_mul(s0)?
            .checked_add((cols - 1).checked_mul(s1)?)
    };
    let inside = |last: Option<usize>, len: usize| last.is_some_and(|last| last < len);
    if !inside(last(m, k, a_strides), a.len())
        || !inside(last(k, n, b_strides), b.len())
        || !inside(last(m, n, (1, ldc)), c.len())
    {
        return false;
    }
    let product = x86::Product {
        m,
        n,
        k,
        alpha: alpha.as_f64() as f32,
        a: a.as_ptr() as *const f32,
        a_strides,
        b: b.as_ptr() as *const f32,
        b_strides,
        c: c.as_mut_ptr() as *mut f32,
        ldc,
        overwrite,
    };
    // SAFETY: T is f32 (checked above), so the slices are slices of f32; every index the
    // kernels touch was bounds-checked above (masked lanes are not accessed); the caller
    // checked that the CPU supports the chosen instructions.
    unsafe {
        match isa {
            x86::Choice::Avx512 => x86::gemm_avx512(&product),
            x86::Choice::Avx2 => x86::gemm_avx2(&product),
        }
    }
    true
}

/// One sample through a dense layer: `y = A x + b`, where `A` is the `M x N`
/// column-major matrix `a` (`A(i, j) = a[i + j * M]`, a layer's weights), `x` has `N`
/// elements and `b` and `y` have `M`. Returns `false` (and does nothing) unless `T` is
/// `f32`, `M >= 8` and `M * N >= 128` (smaller products are faster in portable code), the
/// slices have those lengths, and the CPU has AVX2 and FMA.
///
/// The one-sample products use 8-lane AVX2 even where AVX-512 is available: a tiny
/// network's training step is a chain of short dependent steps, most of them scalar or
/// SSE code (activations, the loss), and on the Intel Xeon we measured, mixing 512-bit
/// instructions into that chain made the 4-16-16-3 step 27% slower than AVX2 did. The
/// sizes are constants, so that a small layer's product is straight-line code; columns
/// shorter than a vector are left to the portable kernels, which LLVM unrolls for the
/// constant sizes.
pub fn gemv<T: Scalar, const M: usize, const N: usize>(
    a: &[T],
    x: &[T],
    b: &[T],
    y: &mut [T],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if b.len() == M {
        if let Some((a, x, y)) = one_sample::<T, M, N>((a, x, y), (M * N, N, M)) {
            let b = b.as_ptr() as *const f32;
            if M * N >= x86::WIDE && std::is_x86_feature_detected!("avx512f") {
                // SAFETY: as below, and the CPU has AVX-512F, checked just above.
                unsafe { x86::gemv_wide_avx512::<M, N>(a, x, b, y) };
                return true;
            }
            // SAFETY: `one_sample` checked the CPU, the type and the lengths (and `b`'s
            // above).
            unsafe { x86::gemv::<M, N>(a, x, b, y) };
            return true;
        }
    }
    let _ = (a, x, b, y);
    false
}

/// One sample's input gradient: `y = A^T x`, with `A` as in [`gemv`], `x` of `M`
/// elements and `y` of `N` (overwritten). Same conditions as [`gemv`].
pub fn gemv_t<T: Scalar, const M: usize, const N: usize>(a: &[T], x: &[T], y: &mut [T]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if let Some((a, x, y)) = one_sample::<T, M, N>((a, x, y), (M * N, M, N)) {
        // SAFETY: `one_sample` checked the CPU, the type and the lengths.
        unsafe { x86::gemv_t::<M, N>(a, x, y) };
        return true;
    }
    let _ = (a, x, y);
    false
}

/// One sample's weight update: `A += alpha x y^T`, with `A` as in [`gemv`] (here
/// mutable), `x` of `M` elements and `y` of `N`. Same conditions as [`gemv`].
pub fn ger<T: Scalar, const M: usize, const N: usize>(
    alpha: T,
    x: &[T],
    y: &[T],
    a: &mut [T],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if let Some((x, y, a)) = one_sample::<T, M, N>((x, y, a), (M, N, M * N)) {
        // SAFETY: `one_sample` checked the CPU, the type and the lengths.
        unsafe { x86::ger::<M, N>(alpha.as_f64() as f32, x, y, a) };
        return true;
    }
    let _ = (alpha, x, y, a);
    false
}

/// Below this many multiply-adds a one-sample product stays portable: the call and the
/// CPU check cost more than they save. Measured on the tiny benches: with 64, the 4 x 16
/// layer also went through here and the 4-16-16-3 step took 127 ns instead of 118.
#[cfg(target_arch = "x86_64")]
const MIN_PRODUCTS: usize = 128;

/// The pointers of two input slices and one output slice of `f32`, if the CPU has AVX2
/// and FMA, `T` is `f32`, `M >= 8` (a column fills a vector), the product has at least
/// [`MIN_PRODUCTS`] multiply-adds, and the slices have exactly the given lengths.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::type_complexity)] // three pointers
fn one_sample<T: Scalar, const M: usize, const N: usize>(
    (p, q, out): (&[T], &[T], &mut [T]),
    lengths: (usize, usize, usize),
) -> Option<(*const f32, *const f32, *mut f32)> {
    (TypeId::of::<T>() == TypeId::of::<f32>()
        && M >= 8
        && M * N >= MIN_PRODUCTS
        && (p.len(), q.len(), out.len()) == lengths
        && std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma"))
    .then_some((
        p.as_ptr() as *const f32,
        q.as_ptr() as *const f32,
        out.as_mut_ptr() as *mut f32,
    ))
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    /// An instruction set the kernels can use.
    #[derive(Clone, Copy, Debug)]
    pub enum Choice {
        /// AVX-512F: 16 lanes, 32 registers.
        Avx512,
        /// AVX2 and FMA: 8 lanes, 16 registers.
        Avx2,
    }

    impl Choice {
        /// The best instruction set this CPU has, if any (a cached load after the first
        /// call).
        #[inline]
        pub fn detect() -> Option<Choice> {
            if std::is_x86_feature_detected!("avx512f") {
                Some(Choice::Avx512)
            } else if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
            {
                Some(Choice::Avx2)
            } else {
                None
            }
        }
    }

    /// Products along `k` done per visit of a tile (a block of 32 rows of `A` is 32 KiB);
    /// longer products are cut into equal blocks. Measured: 64, 128 and 256 within noise
    /// of each other on 784-128-10; longer blocks visit `C` fewer times.
    const KC: usize = 256;

    /// The vector operations the kernel needs from one instruction set. Every method is
    /// `#[inline(always)]` and only called from a function compiled with the features.
    trait Isa {
        type V: Copy;
        type Mask: Copy;
        /// Lanes per vector.
        const LANES: usize;
        /// Vectors per column of a tile (`MV * LANES` rows).
        const MV: usize;
        /// Columns per tile.
        const NR: usize;
        unsafe fn zero() -> Self::V;
        /// The first `rows` lanes, `1 <= rows <= LANES`.
        unsafe fn mask(rows: usize) -> Self::Mask;
        unsafe fn load(p: *const f32) -> Self::V;
        unsafe fn load_masked(p: *const f32, mask: Self::Mask) -> Self::V;
        unsafe fn store(p: *mut f32, v: Self::V);
        unsafe fn store_masked(p: *mut f32, mask: Self::Mask, v: Self::V);
        unsafe fn broadcast(p: *const f32) -> Self::V;
        unsafe fn splat(x: f32) -> Self::V;
        /// `a * b + c`, rounded once.
        unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    }

    struct Avx512;

    impl Isa for Avx512 {
        type V = __m512;
        type Mask = __mmask16;
        const LANES: usize = 16;
        const MV: usize = 2;
        const NR: usize = 12;
        #[inline(always)]
        unsafe fn zero() -> __m512 {
            unsafe { _mm512_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn mask(rows: usize) -> __mmask16 {
            ((1u32 << rows) - 1) as __mmask16
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m512 {
            unsafe { _mm512_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn load_masked(p: *const f32, mask: __mmask16) -> __m512 {
            unsafe { _mm512_maskz_loadu_ps(mask, p) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m512) {
            unsafe { _mm512_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn store_masked(p: *mut f32, mask: __mmask16, v: __m512) {
            unsafe { _mm512_mask_storeu_ps(p, mask, v) }
        }
        #[inline(always)]
        unsafe fn broadcast(p: *const f32) -> __m512 {
            unsafe { _mm512_set1_ps(*p) }
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> __m512 {
            unsafe { _mm512_set1_ps(x) }
        }
        #[inline(always)]
        unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
            unsafe { _mm512_fmadd_ps(a, b, c) }
        }
    }

    struct Avx2;

    impl Isa for Avx2 {
        type V = __m256;
        type Mask = __m256i;
        const LANES: usize = 8;
        const MV: usize = 2;
        const NR: usize = 6;
        #[inline(always)]
        unsafe fn zero() -> __m256 {
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn mask(rows: usize) -> __m256i {
            // Lane l is on when l < rows (its sign bit set).
            unsafe {
                let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                _mm256_cmpgt_epi32(_mm256_set1_epi32(rows as i32), lanes)
            }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m256 {
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn load_masked(p: *const f32, mask: __m256i) -> __m256 {
            unsafe { _mm256_maskload_ps(p, mask) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m256) {
            unsafe { _mm256_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn store_masked(p: *mut f32, mask: __m256i, v: __m256) {
            unsafe { _mm256_maskstore_ps(p, mask, v) }
        }
        #[inline(always)]
        unsafe fn broadcast(p: *const f32) -> __m256 {
            unsafe { _mm256_broadcast_ss(&*p) }
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> __m256 {
            unsafe { _mm256_set1_ps(x) }
        }
        #[inline(always)]
        unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }
    }

    /// A product as [`super::gemm`] takes it, bounds checked.
    pub struct Product {
        pub m: usize,
        pub n: usize,
        pub k: usize,
        pub alpha: f32,
        pub a: *const f32,
        pub a_strides: (usize, usize),
        pub b: *const f32,
        pub b_strides: (usize, usize),
        pub c: *mut f32,
        pub ldc: usize,
        /// `C = alpha A B` instead of `C += alpha A B`.
        pub overwrite: bool,
    }

    /// See [`super::gemm`], with AVX-512F.
    pub unsafe fn gemm_avx512(product: &Product) {
        unsafe {
            if product.b_strides.1 == 1 {
                avx512_rows(product)
            } else {
                avx512_columns(product)
            }
        }
    }

    /// See [`super::gemm`], with AVX2 and FMA.
    pub unsafe fn gemm_avx2(product: &Product) {
        unsafe {
            if product.b_strides.1 == 1 {
                avx2_rows(product)
            } else {
                avx2_columns(product)
            }
        }
    }

    // One function per instruction set and layout of B: four functions of moderate size
    // compile much faster than two holding every kernel.

    #[target_feature(enable = "avx512f")]
    unsafe fn avx512_rows(product: &Product) {
        unsafe { blocked::<Avx512, true>(product) }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn avx512_columns(product: &Product) {
        unsafe { blocked::<Avx512, false>(product) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2_rows(product: &Product) {
        unsafe { blocked::<Avx2, true>(product) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2_columns(product: &Product) {
        unsafe { blocked::<Avx2, false>(product) }
    }

    /// The most rows of a tile on any instruction set.
    const MAX_MR: usize = 32;

    /// Walks `k` in blocks of [`KC`] and, inside a block, every tile. The loop over tiles
    /// keeps the smaller operand's block in L1: with more rows than columns (a forward
    /// pass: many outputs, few samples) all the column tiles of one row panel run
    /// together, else all the row panels of one column tile. When `A`'s rows are not
    /// contiguous (a transposed weight matrix), each row panel's block is first copied
    /// into a buffer laid out as the kernel reads it.
    #[inline(always)]
    unsafe fn blocked<I: Isa, const ROWS: bool>(product: &Product) {
        let &Product {
            m,
            n,
            k,
            alpha,
            a,
            a_strides: (asi, asp),
            b,
            b_strides: (bsk, bsn),
            c,
            ldc,
            overwrite,
        } = product;
        let mr = I::MV * I::LANES;
        // Row panels of a transposed A, copied column after column; only the values
        // written are ever read (the kernel masks the rows past a panel's last).
        let mut buffer = core::mem::MaybeUninit::<[f32; MAX_MR * KC]>::uninit();
        let packed = buffer.as_mut_ptr() as *mut f32;
        // Blocks of equal length, none longer than KC.
        let kc_max = k.div_ceil(k.div_ceil(KC));
        let mut p0 = 0;
        while p0 < k {
            let kc = kc_max.min(k - p0);
            let (a, b) = unsafe { (a.add(p0 * asp), b.add(p0 * bsk)) };
            // A macro, not a closure: a closure would not inherit the target features.
            macro_rules! visit {
                ($i:expr, $j:expr, $a:expr, $lda:expr) => {{
                    let (i, j) = ($i, $j);
                    let tile = Tile {
                        rows: (m - i).min(mr),
                        cols: (n - j).min(I::NR),
                        k: kc,
                        alpha,
                        a: $a,
                        lda: $lda,
                        b: unsafe { b.add(j * bsn) },
                        // The stride that is not 1.
                        bs: if ROWS { bsk } else { bsn },
                        c: unsafe { c.add(i + j * ldc) },
                        ldc,
                        // Only the first block overwrites; the others add to it.
                        overwrite: overwrite && p0 == 0,
                    };
                    unsafe { tile.run::<I, ROWS>() }
                }};
            }
            if asi != 1 {
                // A transposed A: copy each row panel first, so that its columns are
                // contiguous for the kernel; the panel then serves every column tile.
                for i in (0..m).step_by(mr) {
                    let rows = (m - i).min(mr);
                    for p in 0..kc {
                        for r in 0..rows {
                            unsafe { packed.add(p * mr + r).write(*a.add((i + r) * asi + p)) };
                        }
                    }
                    for j in (0..n).step_by(I::NR) {
                        visit!(i, j, packed as *const f32, mr);
                    }
                }
            } else if m > n {
                for i in (0..m).step_by(mr) {
                    for j in (0..n).step_by(I::NR) {
                        visit!(i, j, unsafe { a.add(i) }, asp);
                    }
                }
            } else {
                for j in (0..n).step_by(I::NR) {
                    for i in (0..m).step_by(mr) {
                        visit!(i, j, unsafe { a.add(i) }, asp);
                    }
                }
            }
            p0 += kc;
        }
    }

    /// One tile's product: `C[rows x cols] += alpha A[rows x k] B[k x cols]` (or `=` when
    /// `overwrite`), with
    /// `rows <= MV * LANES` and `cols <= NR`. `B` is read at `b[p * bs + j]` when its rows
    /// are contiguous, else at `b[p + j * bs]`.
    struct Tile {
        rows: usize,
        cols: usize,
        k: usize,
        alpha: f32,
        a: *const f32,
        lda: usize,
        b: *const f32,
        bs: usize,
        c: *mut f32,
        ldc: usize,
        overwrite: bool,
    }

    impl Tile {
        /// Dispatches to a kernel whose vector count, column count and masking are
        /// constants.
        #[inline(always)]
        unsafe fn run<I: Isa, const ROWS: bool>(&self) {
            let vectors = self.rows.div_ceil(I::LANES);
            let tail = self.rows - (vectors - 1) * I::LANES;
            macro_rules! by_columns {
                ($mv:literal, $masked:literal) => {
                    unsafe {
                        match self.cols {
                            1 => self.kernel::<I, ROWS, $mv, 1, $masked>(tail),
                            2 => self.kernel::<I, ROWS, $mv, 2, $masked>(tail),
                            3 => self.kernel::<I, ROWS, $mv, 3, $masked>(tail),
                            4 => self.kernel::<I, ROWS, $mv, 4, $masked>(tail),
                            5 => self.kernel::<I, ROWS, $mv, 5, $masked>(tail),
                            6 => self.kernel::<I, ROWS, $mv, 6, $masked>(tail),
                            7 => self.kernel::<I, ROWS, $mv, 7, $masked>(tail),
                            8 => self.kernel::<I, ROWS, $mv, 8, $masked>(tail),
                            9 => self.kernel::<I, ROWS, $mv, 9, $masked>(tail),
                            10 => self.kernel::<I, ROWS, $mv, 10, $masked>(tail),
                            11 => self.kernel::<I, ROWS, $mv, 11, $masked>(tail),
                            _ => self.kernel::<I, ROWS, $mv, 12, $masked>(tail),
                        }
                    }
                };
            }
            match (vectors, tail == I::LANES) {
                (1, true) => by_columns!(1, false),
                (1, false) => by_columns!(1, true),
                (_, true) => by_columns!(2, false),
                (_, false) => by_columns!(2, true),
            }
        }

        /// The sums kept in `MV * N` registers; the last vector of each column has only
        /// `tail` rows when `MASKED`.
        #[inline(always)]
        unsafe fn kernel<
            I: Isa,
            const ROWS: bool,
            const MV: usize,
            const N: usize,
            const MASKED: bool,
        >(
            &self,
            tail: usize,
        ) {
            if N > I::NR {
                // Never dispatched: lets the compiler drop the kernel.
                return;
            }
            unsafe {
                let mask = I::mask(tail);
                let mut acc = [[I::zero(); MV]; N];
                for p in 0..self.k {
                    // Computed from `p`, never advanced past the last column: a pointer
                    // beyond its allocation is undefined behaviour even if never read.
                    let column = self.a.add(p * self.lda);
                    let mut av = [I::zero(); MV];
                    for (v, x) in av.iter_mut().enumerate() {
                        *x = if MASKED && v == MV - 1 {
                            I::load_masked(column.add(v * I::LANES), mask)
                        } else {
                            I::load(column.add(v * I::LANES))
                        };
                    }
                    for (j, sums) in acc.iter_mut().enumerate() {
                        let bj = if ROWS {
                            I::broadcast(self.b.add(p * self.bs + j))
                        } else {
                            I::broadcast(self.b.add(j * self.bs + p))
                        };
                        for (s, x) in sums.iter_mut().zip(&av) {
                            *s = I::fma(*x, bj, *s);
                        }
                    }
                }
                let alpha = I::splat(self.alpha);
                // Overwriting adds to +0 instead of to `C`: the bits of a zeroed `C`
                // (a product rounding to -0 gives +0 either way).
                let overwrite = self.overwrite;
                for (j, sums) in acc.iter().enumerate() {
                    for (v, s) in sums.iter().enumerate() {
                        let p = self.c.add(j * self.ldc + v * I::LANES);
                        if MASKED && v == MV - 1 {
                            let old = if overwrite {
                                I::zero()
                            } else {
                                I::load_masked(p, mask)
                            };
                            I::store_masked(p, mask, I::fma(*s, alpha, old));
                        } else {
                            let old = if overwrite { I::zero() } else { I::load(p) };
                            I::store(p, I::fma(*s, alpha, old));
                        }
                    }
                }
            }
        }
    }
    // The one-sample products, AVX2 and FMA only (see `super::gemv` for why). One small
    // function per product and size: with the sizes constant, a small layer's product is
    // unrolled into straight-line code. `M >= 8` throughout.

    const LANES: usize = <Avx2 as Isa>::LANES;

    /// Whether vector `v` of a column of `M` rows is the partial last one.
    #[inline(always)]
    fn is_partial<const M: usize>(v: usize) -> bool {
        !M.is_multiple_of(LANES) && v == M / LANES
    }

    /// Vector `v` of a column of `M` rows, masked if it is the partial last one.
    #[inline(always)]
    unsafe fn load_part<const M: usize>(p: *const f32, v: usize) -> __m256 {
        unsafe {
            if is_partial::<M>(v) {
                Avx2::load_masked(p, Avx2::mask(M % LANES))
            } else {
                Avx2::load(p)
            }
        }
    }

    /// Stores vector `v` of a column of `M` rows, masked like [`load_part`]. For outputs
    /// only: see [`ger`] on masked stores into the matrix.
    #[inline(always)]
    unsafe fn store_part<const M: usize>(p: *mut f32, v: usize, value: __m256) {
        unsafe {
            if is_partial::<M>(v) {
                Avx2::store_masked(p, Avx2::mask(M % LANES), value)
            } else {
                Avx2::store(p, value)
            }
        }
    }

    /// Products from which a one-sample `y = A x + b` is streaming work (the matrix, 64
    /// KiB and more, no longer sits in L1 from one call to the next): taller panels, read
    /// as longer contiguous stretches of each column, and AVX-512 where the CPU has it
    /// (a panel of up to 256 rows then fits the registers, so a layer of up to 256
    /// outputs reads its matrix in one sequential sweep).
    pub const WIDE: usize = 16 * 1024;

    /// [`gemv`] for a [`WIDE`] product with AVX-512: panels of up to sixteen 16-lane
    /// vectors (256 rows, 16 of the 32 registers), one chain each.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn gemv_wide_avx512<const M: usize, const N: usize>(
        a: *const f32,
        x: *const f32,
        b: *const f32,
        y: *mut f32,
    ) {
        const PV: usize = 16;
        const L: usize = <Avx512 as Isa>::LANES;
        let vectors = M.div_ceil(L);
        let tail = unsafe { Avx512::mask(M - (vectors - 1) * L) };
        // Vector `v` of a column at `p`, masked if it is the partial last one.
        macro_rules! part {
            ($v:expr) => {
                !M.is_multiple_of(L) && $v == vectors - 1
            };
        }
        let mut v0 = 0;
        while v0 < vectors {
            let mut acc = [unsafe { Avx512::zero() }; PV];
            for j in 0..N {
                unsafe {
                    let xj = Avx512::broadcast(x.add(j));
                    for (dv, s) in acc.iter_mut().enumerate() {
                        let v = v0 + dv;
                        if v < vectors {
                            let p = a.add(j * M + v * L);
                            let w = if part!(v) {
                                Avx512::load_masked(p, tail)
                            } else {
                                Avx512::load(p)
                            };
                            *s = Avx512::fma(w, xj, *s);
                        }
                    }
                }
            }
            for (dv, s) in acc.iter().enumerate() {
                let v = v0 + dv;
                if v < vectors {
                    unsafe {
                        let one = Avx512::splat(1.0);
                        if part!(v) {
                            let bias = Avx512::load_masked(b.add(v * L), tail);
                            Avx512::store_masked(y.add(v * L), tail, Avx512::fma(bias, one, *s));
                        } else {
                            let bias = Avx512::load(b.add(v * L));
                            Avx512::store(y.add(v * L), Avx512::fma(bias, one, *s));
                        }
                    }
                }
            }
            v0 += PV;
        }
    }

    /// `y = A x + b`: panels of up to two vectors of rows (eight for a [`WIDE`] product),
    /// each summed over the columns in four independent chains (one for a wide product,
    /// whose eight vectors are eight chains already; one chain of one vector would wait
    /// on the FMA latency). `y` is only written: reading it back as a vector right after
    /// the caller's narrower stores would stall until they complete.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gemv<const M: usize, const N: usize>(
        a: *const f32,
        x: *const f32,
        b: *const f32,
        y: *mut f32,
    ) {
        unsafe {
            if M * N >= WIDE {
                panels::<M, N, PANEL_WIDE, 1>(a, x, b, y)
            } else {
                panels::<M, N, 2, 4>(a, x, b, y)
            }
        }
    }

    /// Vectors per panel of a [`WIDE`] product.
    const PANEL_WIDE: usize = 8;

    /// [`gemv`] with panels of `PV` vectors and `CHAINS` chains.
    #[inline(always)]
    unsafe fn panels<const M: usize, const N: usize, const PV: usize, const CHAINS: usize>(
        a: *const f32,
        x: *const f32,
        b: *const f32,
        y: *mut f32,
    ) {
        let vectors = M.div_ceil(LANES);
        let mut v0 = 0;
        while v0 < vectors {
            let mut acc = [[unsafe { Avx2::zero() }; PV]; CHAINS];
            // A macro, not a closure: a closure would not inherit the target features.
            macro_rules! column {
                ($j:expr, $sums:expr) => {{
                    let (j, sums): (usize, &mut [__m256; PV]) = ($j, $sums);
                    unsafe {
                        let xj = Avx2::broadcast(x.add(j));
                        for (dv, s) in sums.iter_mut().enumerate() {
                            let v = v0 + dv;
                            if v < vectors {
                                let w = load_part::<M>(a.add(j * M + v * LANES), v);
                                *s = Avx2::fma(w, xj, *s);
                            }
                        }
                    }
                }};
            }
            let full = N - N % CHAINS;
            for j in (0..full).step_by(CHAINS) {
                for (c, sums) in acc.iter_mut().enumerate() {
                    column!(j + c, sums);
                }
            }
            for (c, sums) in acc.iter_mut().enumerate().take(N % CHAINS) {
                column!(full + c, sums);
            }
            for dv in 0..PV {
                let v = v0 + dv;
                if v < vectors {
                    unsafe {
                        // Chains summed pairwise: ((c0 + c1) + (c2 + c3)).
                        let sum = if CHAINS == 4 {
                            _mm256_add_ps(
                                _mm256_add_ps(acc[0][dv], acc[1][dv]),
                                _mm256_add_ps(acc[2][dv], acc[3][dv]),
                            )
                        } else {
                            let mut sum = acc[0][dv];
                            for chain in acc.iter().skip(1) {
                                sum = _mm256_add_ps(sum, chain[dv]);
                            }
                            sum
                        };
                        let sum = _mm256_add_ps(load_part::<M>(b.add(v * LANES), v), sum);
                        store_part::<M>(y.add(v * LANES), v, sum);
                    }
                }
            }
            v0 += PV;
        }
    }

    /// `y = A^T x`: each column's dot product with `x` stays a vector of partial sums,
    /// and eight of them are summed across lanes together into one vector of `y`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gemv_t<const M: usize, const N: usize>(
        a: *const f32,
        x: *const f32,
        y: *mut f32,
    ) {
        let vectors = M.div_ceil(LANES);
        let mut j0 = 0;
        while j0 < N {
            let columns = (N - j0).min(LANES);
            // The loop over columns is innermost and of constant length, so that it is
            // unrolled and the sums stay in registers.
            let mut dots = [unsafe { Avx2::zero() }; LANES];
            for v in 0..vectors {
                unsafe {
                    let xv = load_part::<M>(x.add(v * LANES), v);
                    for (c, dot) in dots.iter_mut().enumerate() {
                        if c < columns {
                            let w = load_part::<M>(a.add((j0 + c) * M + v * LANES), v);
                            *dot = Avx2::fma(w, xv, *dot);
                        }
                    }
                }
            }
            unsafe {
                let sums = sum_lanes(&dots);
                if columns == LANES {
                    Avx2::store(y.add(j0), sums);
                } else {
                    Avx2::store_masked(y.add(j0), Avx2::mask(columns), sums);
                }
            }
            j0 += LANES;
        }
    }

    /// Lane `j` of the result is the sum of the eight lanes of `v[j]`.
    #[inline(always)]
    unsafe fn sum_lanes(v: &[__m256; LANES]) -> __m256 {
        unsafe {
            // [v0 01, v0 23, v1 01, v1 23, v0 45, v0 67, v1 45, v1 67], ...
            let t0 = _mm256_hadd_ps(v[0], v[1]);
            let t1 = _mm256_hadd_ps(v[2], v[3]);
            let t2 = _mm256_hadd_ps(v[4], v[5]);
            let t3 = _mm256_hadd_ps(v[6], v[7]);
            // [v0 0123, v1 0123, v2 0123, v3 0123, v0 4567, v1 4567, v2 4567, v3 4567]
            let u0 = _mm256_hadd_ps(t0, t1);
            let u1 = _mm256_hadd_ps(t2, t3);
            // The low halves of u0 and u1 plus their high halves.
            _mm256_add_ps(
                _mm256_permute2f128_ps(u0, u1, 0x20),
                _mm256_permute2f128_ps(u0, u1, 0x31),
            )
        }
    }

    /// `A += alpha x y^T`, a column at a time. The rows past the last full vector are
    /// updated by scalar code: a masked store followed by a load of the next column,
    /// which shares its vector, stalls until the store completes (measured with masks:
    /// 3 x 16 took 112 ns).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn ger<const M: usize, const N: usize>(
        alpha: f32,
        x: *const f32,
        y: *const f32,
        a: *mut f32,
    ) {
        let vectors = M / LANES;
        for j in 0..N {
            unsafe {
                let yj = alpha * *y.add(j);
                let scale = Avx2::splat(yj);
                let column = a.add(j * M);
                for v in 0..vectors {
                    let p = column.add(v * LANES);
                    Avx2::store(
                        p,
                        Avx2::fma(scale, Avx2::load(x.add(v * LANES)), Avx2::load(p)),
                    );
                }
                for r in vectors * LANES..M {
                    *column.add(r) += yj * *x.add(r);
                }
            }
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    use super::*;

    /// The product by plain loops in f64, same arguments as [`gemm`].
    #[allow(clippy::too_many_arguments)] // the GEMM's shape and strides
    fn reference(
        (m, n, k): (usize, usize, usize),
        alpha: f32,
        a: &[f32],
        (asi, asp): (usize, usize),
        b: &[f32],
        (bsk, bsn): (usize, usize),
        c: &mut [f32],
        ldc: usize,
    ) {
        for j in 0..n {
            for i in 0..m {
                let mut acc = 0.0;
                for p in 0..k {
                    acc += f64::from(a[i * asi + p * asp]) * f64::from(b[p * bsk + j * bsn]);
                }
                c[i + j * ldc] = (f64::from(c[i + j * ldc]) + f64::from(alpha) * acc) as f32;
            }
        }
    }

    /// The instruction sets this CPU has.
    fn available() -> Vec<x86::Choice> {
        let mut isas = Vec::new();
        if std::is_x86_feature_detected!("avx512f") {
            isas.push(x86::Choice::Avx512);
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            isas.push(x86::Choice::Avx2);
        }
        isas
    }

    #[test]
    fn every_instruction_set_and_layout_matches_a_naive_product_for_odd_sizes() {
        let mut rng = crate::Rng::seed_from_u64(1);
        let isas = available();
        // The CI machines have AVX2 and FMA: the kernels must run, not decline.
        assert!(!isas.is_empty(), "no instruction set to test");
        // Under Miri (`scripts/miri.sh`), fewer and smaller shapes that still reach
        // every kernel: one and two vectors of rows, masked and full, several row panels
        // and column tiles, and a product longer than one block along k (KC = 256).
        let (sizes, edges): (&[usize], &[(usize, usize, usize)]) = if cfg!(miri) {
            (&[1, 3, 17], &[(16, 6, 8), (33, 13, 3), (9, 2, 300)])
        } else {
            (
                &[1, 3, 7, 17, 33, 129],
                &[
                    (16, 6, 8),
                    (32, 12, 64),
                    (48, 24, 65),
                    (784, 32, 130),
                    (40, 13, 777),
                ],
            )
        };
        let shapes = sizes
            .iter()
            .flat_map(|&m| sizes.iter().map(move |&n| (m, n)))
            .zip(sizes.iter().cycle().skip(2))
            .map(|((m, n), &k)| (m, n, k))
            // Tile edges, and products longer than one block along k.
            .chain(edges.iter().copied());
        let mut random =
            |len: usize| -> Vec<f32> { (0..len).map(|_| rng.uniform(-1.0, 1.0) as f32).collect() };
        for isa in isas {
            for (m, n, k) in shapes.clone() {
                for layout in 0..8 {
                    // A's rows or columns contiguous, and B's. Leading dimensions larger
                    // than the matrices (the kernels must use them), or A exactly as long
                    // as the matrix, as a layer's weights are (no pointer may step past
                    // its end).
                    let (transposed_a, transposed_b) = (layout & 1 == 1, layout & 2 == 2);
                    let pad = if layout & 4 == 4 { 0 } else { 1 };
                    let a_strides = if transposed_a {
                        (k + 2 * pad, 1)
                    } else {
                        (1, m + 3 * pad)
                    };
                    let b_strides = if transposed_b { (n, 1) } else { (1, k) };
                    let ldc = m + 1;
                    let a = random((m + 3 * pad) * (k + 2 * pad));
                    let b = random(k * n);
                    let c0 = random(ldc * n);
                    let (mut c, mut expected) = (c0.clone(), c0.clone());
                    let operands = (m, n, k, -0.5f32, &a[..], a_strides, &b[..], b_strides);
                    assert!(gemm_with(isa, operands, &mut c, ldc, false));
                    reference(
                        (m, n, k),
                        -0.5,
                        &a,
                        a_strides,
                        &b,
                        b_strides,
                        &mut expected,
                        ldc,
                    );
                    for (index, (x, y)) in c.iter().zip(&expected).enumerate() {
                        let tolerance = 2e-6 * (1.0 + y.abs()) * (k as f32).sqrt();
                        assert!(
                            (x - y).abs() <= tolerance,
                            "{isa:?} {m}x{n}x{k} layout {layout} at {index}: {x} vs {y}"
                        );
                    }
                    // The rows between `m` and `ldc` are not the product's: untouched.
                    for j in 0..n {
                        assert_eq!(
                            c[m + j * ldc..(j + 1) * ldc],
                            c0[m + j * ldc..(j + 1) * ldc]
                        );
                    }
                    // Overwriting never reads C (NaN there stays out of the result) and
                    // gives the bits of adding into zeros; the padding is still untouched.
                    // (Under Miri, which checks the memory accesses, one product: the
                    // result against the reference's, not bit for bit.)
                    let mut garbage = c0.clone();
                    for j in 0..n {
                        garbage[j * ldc..j * ldc + m].fill(f32::NAN);
                    }
                    assert!(gemm_with(isa, operands, &mut garbage, ldc, true));
                    if cfg!(miri) {
                        for j in 0..n {
                            for i in 0..m {
                                let at = i + j * ldc;
                                let added = f64::from(expected[at] - c0[at]);
                                let got = f64::from(garbage[at]);
                                assert!((got - added).abs() <= 1e-4 * (1.0 + added.abs()));
                            }
                        }
                    } else {
                        let mut zeroed = c0.clone();
                        for j in 0..n {
                            zeroed[j * ldc..j * ldc + m].fill(0.0);
                        }
                        assert!(gemm_with(isa, operands, &mut zeroed, ldc, false));
                        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        let what = std::format!("{isa:?} {m}x{n}x{k} layout {layout}");
                        assert_eq!(bits(&garbage), bits(&zeroed), "{what}");
                    }
                }
            }
        }
    }

    /// The three one-sample products of an `M x N` matrix against f64 loops.
    fn check_one_sample<const M: usize, const N: usize>(rng: &mut crate::Rng) {
        let mut random =
            |len: usize| -> Vec<f32> { (0..len).map(|_| rng.uniform(-1.0, 1.0) as f32).collect() };
        let (a, x_m, x_n, b) = (random(M * N), random(M), random(N), random(M));
        let close = |got: &[f32], expected: &[f64], what: &str| {
            for (index, (g, e)) in got.iter().zip(expected).enumerate() {
                let tolerance = 2e-6 * (1.0 + e.abs()) * ((M + N) as f64).sqrt();
                assert!(
                    (f64::from(*g) - e).abs() <= tolerance,
                    "{what} {M}x{N} at {index}: {g} vs {e}"
                );
            }
        };
        let element = |i: usize, j: usize| f64::from(a[i + j * M]);

        let mut y = vec![f32::NAN; M];
        assert!(gemv::<f32, M, N>(&a, &x_n, &b, &mut y), "gemv {M}x{N}");
        let expected: Vec<f64> = (0..M)
            .map(|i| {
                f64::from(b[i])
                    + (0..N)
                        .map(|j| element(i, j) * f64::from(x_n[j]))
                        .sum::<f64>()
            })
            .collect();
        close(&y, &expected, "gemv");

        let mut y = vec![f32::NAN; N];
        assert!(gemv_t::<f32, M, N>(&a, &x_m, &mut y), "gemv_t {M}x{N}");
        let expected: Vec<f64> = (0..N)
            .map(|j| {
                (0..M)
                    .map(|i| element(i, j) * f64::from(x_m[i]))
                    .sum::<f64>()
            })
            .collect();
        close(&y, &expected, "gemv_t");

        let mut updated = a.clone();
        assert!(
            ger::<f32, M, N>(-0.5, &x_m, &x_n, &mut updated),
            "ger {M}x{N}"
        );
        let expected: Vec<f64> = (0..M * N)
            .map(|k| element(k % M, k / M) - 0.5 * f64::from(x_m[k % M]) * f64::from(x_n[k / M]))
            .collect();
        close(&updated, &expected, "ger");
    }

    #[test]
    fn one_sample_products_match_naive_loops_for_odd_sizes() {
        // The CI machines have AVX2 and FMA: the kernels must run, not decline.
        assert!(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"));
        let mut rng = crate::Rng::seed_from_u64(2);
        // Columns of one vector exactly, one vector and a masked tail, many vectors;
        // row counts that leave partial groups of eight columns for `gemv_t`.
        check_one_sample::<8, 16>(&mut rng);
        check_one_sample::<16, 16>(&mut rng);
        check_one_sample::<9, 17>(&mut rng);
        check_one_sample::<17, 17>(&mut rng);
        check_one_sample::<17, 129>(&mut rng);
        check_one_sample::<33, 7>(&mut rng);
        check_one_sample::<33, 33>(&mut rng);
        check_one_sample::<129, 1>(&mut rng);
        check_one_sample::<129, 3>(&mut rng);
        check_one_sample::<129, 129>(&mut rng);
        // Wide products (`x86::WIDE`): AVX-512 panels of 256 rows where the CPU has them
        // (one panel and a masked tail; two panels, the second partial), AVX2 panels of
        // 64 rows elsewhere (Miri runs those).
        check_one_sample::<300, 64>(&mut rng);
        #[cfg(not(miri))]
        check_one_sample::<256, 65>(&mut rng);
    }

    #[test]
    fn one_sample_products_decline_small_f64_and_misshapen_operands() {
        let mut y = [7.0f32; 16];
        // Columns shorter than a vector, and products too small to gain.
        assert!(!gemv::<f32, 3, 129>(
            &[1.0; 387],
            &[1.0; 129],
            &[0.0; 3],
            &mut y[..3]
        ));
        assert!(!gemv_t::<f32, 8, 2>(&[1.0; 16], &[1.0; 8], &mut y[..2]));
        assert!(!gemv_t::<f64, 16, 16>(
            &[1.0; 256],
            &[1.0; 16],
            &mut [0.0; 16]
        ));
        // A matrix one element short, a bias of the wrong length.
        assert!(!gemv_t::<f32, 16, 16>(&[1.0; 255], &[1.0; 16], &mut y));
        assert!(!gemv::<f32, 16, 16>(
            &[1.0; 256],
            &[1.0; 16],
            &[0.0; 15],
            &mut y
        ));
        assert!(!ger::<f32, 16, 16>(
            1.0,
            &[1.0; 16],
            &[1.0; 15],
            &mut [0.0; 256]
        ));
        assert_eq!(y, [7.0; 16]);
    }

    #[test]
    fn declines_strides_whose_bounds_would_wrap() {
        // Each product's last index overflows `usize`; wrapping arithmetic would land it
        // back inside the slices (which are large enough for the product otherwise) and
        // let the kernel read and write far outside them.
        let (a, b) = ([1.0f32; 16], [1.0f32; 16]);
        let mut c = [7.0f32; 16];
        let (max, half) = (usize::MAX, 1usize << (usize::BITS - 1));
        for ((m, n, k), a_strides, b_strides, ldc) in [
            // A: (m - 1) * 1 + (k - 1) * MAX = 1 + MAX wraps to 0.
            ((2, 2, 2), (1, max), (1, 2), 2),
            // A: (m - 1) * 2^63 = 2 * 2^63 wraps to 0 (a transposed A).
            ((3, 2, 2), (half, 1), (1, 2), 3),
            // B: (k - 1) * 2^63 = 2 * 2^63 wraps to 0.
            ((2, 2, 3), (1, 2), (half, 1), 2),
            // C: (m - 1) + (n - 1) * MAX = 1 + MAX wraps to 0.
            ((2, 2, 2), (1, 2), (1, 2), max),
            // C: (n - 1) * 2^63 = 2 * 2^63 wraps to 0.
            ((1, 3, 2), (1, 1), (1, 2), half),
        ] {
            assert!(
                !gemm(m, n, k, 1.0f32, &a, a_strides, &b, b_strides, &mut c, ldc),
                "accepted {m}x{n}x{k} with strides {a_strides:?} {b_strides:?} ldc {ldc}"
            );
        }
        assert_eq!(c, [7.0; 16]);
    }

    #[test]
    fn declines_f64_empty_strided_and_out_of_bounds_products() {
        let mut c = [0.0f64; 4];
        assert!(!gemm(
            2,
            2,
            2,
            1.0f64,
            &[1.0; 4],
            (1, 2),
            &[1.0; 4],
            (1, 2),
            &mut c,
            2
        ));
        let mut c = [7.0f32; 4];
        // Neither stride of A is 1.
        assert!(!gemm(
            2,
            2,
            2,
            1.0f32,
            &[1.0; 8],
            (2, 4),
            &[1.0; 4],
            (1, 2),
            &mut c,
            2
        ));
        assert!(!gemm(2, 2, 0, 1.0f32, &[], (1, 2), &[], (1, 2), &mut c, 2));
        // C one element short.
        assert!(!gemm(
            2,
            2,
            2,
            1.0f32,
            &[1.0; 4],
            (1, 2),
            &[1.0; 4],
            (1, 2),
            &mut c[..3],
            2
        ));
        assert_eq!(c, [7.0; 4]);
    }
}
