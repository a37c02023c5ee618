// Link arguments of moemamba-sys do not reach this crate's tests and examples, so the
// rpath to the folder moemamba-sys found is set here too.
fn main() {
    if let Some(dir) = std::env::var_os("DEP_MOEMAMBA_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.to_string_lossy());
    }
}
