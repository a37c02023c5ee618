// moemamba-sys finds libmoemamba.so (MOEMAMBA_LIB_DIR, else pkg-config, else the
// repository's release build) and tells its direct dependents where; the rpath lets this
// program run without LD_LIBRARY_PATH.
fn main() {
    if let Some(dir) = std::env::var_os("DEP_MOEMAMBA_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.to_string_lossy());
    }
}
