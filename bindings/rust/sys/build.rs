// Finds libmoemamba.so: MOEMAMBA_LIB_DIR when set, else the CMake release build of this
// repository. The rpath lets test binaries and examples run without LD_LIBRARY_PATH.
use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=MOEMAMBA_LIB_DIR");
    let dir = match env::var_os("MOEMAMBA_LIB_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
            manifest.join("../../../build/release/src")
        }
    };
    let dir = dir.canonicalize().unwrap_or_else(|_| {
        panic!(
            "libmoemamba not found in {}: build it (cmake --build --preset release --target moemamba) \
             or set MOEMAMBA_LIB_DIR to the folder holding libmoemamba.so",
            dir.display()
        )
    });
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=dylib=moemamba");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    // Dependent crates (their tests and examples) read this as DEP_MOEMAMBA_LIB_DIR.
    println!("cargo:lib_dir={}", dir.display());
}
