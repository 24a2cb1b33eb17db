//! Expansion snapshots: the generated code, pretty-printed, kept readable and reviewed
//! in diffs. Update after an intended change with `UPDATE_EXPECT=1 cargo test -p
//! network-macros`.

use quote::quote;

use crate::expand;
use crate::parse::Declaration;

fn expand_pretty(input: proc_macro2::TokenStream) -> String {
    let declaration: Declaration = syn::parse2(input).expect("declaration parses");
    let tokens = expand::network(declaration);
    let file: syn::File = syn::parse2(tokens.clone())
        .unwrap_or_else(|e| panic!("expansion is not valid Rust: {e}\n{tokens}"));
    prettyplease::unparse(&file)
}

#[test]
fn iris_expansion() {
    let expanded = expand_pretty(quote! {
        /// Classifies iris flowers.
        #[derive(Clone)]
        pub struct Iris {
            hidden: Dense<4, 16>, Relu,
            deeper: Dense<16>, LeakyRelu(0.1),
            logits: Dense<HIDDEN, 3>,
        }
    });
    expect_test::expect_file!["snapshots/iris.expanded.rs"].assert_eq(&expanded);
}

#[test]
fn invalid_declaration_expands_to_errors_and_a_stub() {
    let expanded = expand_pretty(quote! {
        struct Broken {
            hidden: Dense<4, 16>, Gelu,
            logits: Dense<8, 3>,
        }
    });
    expect_test::expect_file!["snapshots/broken.expanded.rs"].assert_eq(&expanded);
}
