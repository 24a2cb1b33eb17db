//! Values that may be created as all-zero bytes, so that a large network or optimizer
//! can be allocated on the heap (or placed in a `static`) directly, never built on the
//! stack first.
//!
//! Every implementation for a struct is checked at compile time: [`zeroable_struct!`]
//! (and `network!` for the networks it generates) names every field in an exhaustive
//! pattern and passes each one to a function that requires `Zeroable`. A field added
//! later without being listed, or of a type that is not `Zeroable` (a reference, a
//! `NonZero*`, an enum), is a compile error at the implementation instead of unsound
//! code.

use core::marker::PhantomData;

use nalgebra::SMatrix;

use crate::Scalar;

/// A type whose all-zero bit pattern is a valid value: `0.0` for every float, `0` for
/// every integer, `false` for every `bool`.
///
/// # Safety
///
/// Implement it only for types made of such fields (floats, integers, `bool`, arrays and
/// structs of those): no references, pointers, `NonZero*`, `char` or enums. `network!`
/// implements it for the networks it generates, whose fields are layers of the scalar,
/// and checks each field's type at compile time (see the module documentation).
pub unsafe trait Zeroable: Sized {}

/// Compiles only for `Zeroable` values: the compile-time half of [`zeroable_struct!`]
/// and of the impls `network!` generates.
#[doc(hidden)]
#[inline(always)]
pub const fn assert_zeroable<Z: Zeroable>(_: &Z) {}

/// `unsafe impl Zeroable` for a struct, proven field by field at compile time:
/// `zeroable_struct!([generics] Name<args> { every, field })`. Internal: the crate's
/// own layers and optimizers use it (exported only so that these examples run).
///
/// A field that is not `Zeroable` does not compile:
///
/// ```compile_fail,E0277
/// struct Bad<T> { weight: T, name: &'static str }
/// network_core::zeroable_struct!([T: network_core::Zeroable] Bad<T> { weight, name });
/// ```
///
/// nor does a field left out of the list:
///
/// ```compile_fail,E0027
/// struct Grown<T> { weight: T, steps: u64 }
/// network_core::zeroable_struct!([T: network_core::Zeroable] Grown<T> { weight });
/// ```
///
/// while a struct of zeroable fields does:
///
/// ```
/// struct Good<T> { weight: T, steps: u64, on: bool }
/// network_core::zeroable_struct!([T: network_core::Zeroable] Good<T> { weight, steps, on });
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! zeroable_struct {
    ([$($generics:tt)*] $name:ident<$($arg:tt),*> { $($field:ident),* $(,)? }) => {
        // SAFETY: a struct whose fields all accept all-zero bytes accepts them too
        // (padding may hold any bytes); the function below proves at compile time that
        // every field is `Zeroable`, and its pattern is exhaustive, so a field added to
        // the struct without being listed here does not compile.
        unsafe impl<$($generics)*> $crate::Zeroable for $name<$($arg),*> {}
        const _: () = {
            #[allow(dead_code)]
            fn every_field_is_zeroable<$($generics)*>(value: &$name<$($arg),*>) {
                let $name { $($field),* } = value;
                $($crate::assert_zeroable($field);)*
            }
        };
    };
}
pub(crate) use crate::zeroable_struct;

macro_rules! primitives {
    ($($ty:ty),*) => {
        $(
            // SAFETY: all-zero bytes are 0, 0.0 or `false`.
            unsafe impl Zeroable for $ty {}
        )*
    };
}
primitives!(f32, f64, u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, bool);

// SAFETY: an array of zeroable values is zeroable.
unsafe impl<Z: Zeroable, const N: usize> Zeroable for [Z; N] {}
// SAFETY: zero-sized.
unsafe impl<T: ?Sized> Zeroable for PhantomData<T> {}
// SAFETY: nalgebra's `ArrayStorage<T, R, C>` is `[[T; R]; C]` and the matrix adds only
// zero-sized markers (nalgebra's fields are private, so this one is by its documented
// layout, and `tests::matrices_are_their_elements` checks the size).
unsafe impl<T: Scalar + Zeroable, const R: usize, const C: usize> Zeroable for SMatrix<T, R, C> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrices_are_their_elements() {
        assert_eq!(core::mem::size_of::<SMatrix<f32, 3, 7>>(), 3 * 7 * 4);
        assert_eq!(core::mem::size_of::<SMatrix<f64, 5, 1>>(), 5 * 8);
        let zero: SMatrix<f32, 3, 7> = unsafe { core::mem::zeroed() };
        assert_eq!(zero, SMatrix::<f32, 3, 7>::zeros());
    }
}
