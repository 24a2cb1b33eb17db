//! The `network!` procedural macro. Use it through the `network` crate, which documents
//! the grammar and re-exports everything the generated code names.
//!
//! Pipeline, one stage per file: `parse.rs` (syntax, fails fast) → `ast.rs` (the checked
//! IR, every node keeps its tokens for spans) → `validate.rs` (cross-layer checks, every
//! error collected) → `expand/` (one file per generated item), or `fallback.rs` when
//! anything was wrong.

mod ast;
mod ctxt;
mod expand;
mod fallback;
mod parse;
mod shaped;
#[cfg(test)]
mod tests;
mod validate;

use proc_macro::TokenStream;

/// Declares a neural network and generates its statically sized forward and backward
/// code. See the `network` crate's documentation for the grammar.
#[proc_macro]
pub fn network(input: TokenStream) -> TokenStream {
    expand::choose_generics(&input.clone().into());
    let declaration = syn::parse_macro_input!(input as parse::Declaration);
    expand::network(declaration).into()
}
