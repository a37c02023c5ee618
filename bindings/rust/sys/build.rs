// Finds libmoemamba.so, first match wins:
//   1. MOEMAMBA_LIB_DIR, the folder holding libmoemamba.so;
//   2. pkg-config (`$PKG_CONFIG`, else `pkg-config`, honouring PKG_CONFIG_PATH): an
//      installed prefix, e.g. PKG_CONFIG_PATH=P/lib/pkgconfig after `cmake --install`;
//   3. the CMake release build of this repository (../../../build/release/src).
// The rpath lets test binaries and examples run without LD_LIBRARY_PATH. pkg-config is
// run as a program, not through a crate, so the workspace keeps no third-party crates.
use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    for var in ["MOEMAMBA_LIB_DIR", "PKG_CONFIG", "PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let dir = match env::var_os("MOEMAMBA_LIB_DIR") {
        Some(dir) => Some(existing(PathBuf::from(dir), "MOEMAMBA_LIB_DIR")),
        None => match pkg_config_lib_dir() {
            Some(dir) => dir,
            None => {
                let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
                Some(existing(manifest.join("../../../build/release/src"), "the in-tree build"))
            }
        },
    };
    println!("cargo:rustc-link-lib=dylib=moemamba");
    // None: pkg-config names no -L (a system folder such as /usr/lib), the loader's default.
    if let Some(dir) = dir {
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
        // Dependent crates (their tests and examples) read this as DEP_MOEMAMBA_LIB_DIR.
        println!("cargo:lib_dir={}", dir.display());
    }
}

/// `Some(folder)` when pkg-config knows moemamba: `Some(None)` when its flags name no
/// folder; `None` when pkg-config is missing or has no moemamba.pc on its path.
fn pkg_config_lib_dir() -> Option<Option<PathBuf>> {
    let program = env::var_os("PKG_CONFIG").unwrap_or_else(|| "pkg-config".into());
    let out = Command::new(program).args(["--libs-only-L", "moemamba"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let flags = String::from_utf8_lossy(&out.stdout);
    let first = flags.split_whitespace().find_map(|flag| flag.strip_prefix("-L"));
    Some(first.map(|dir| existing(PathBuf::from(dir), "pkg-config --libs-only-L moemamba")))
}

fn existing(dir: PathBuf, source: &str) -> PathBuf {
    dir.canonicalize().unwrap_or_else(|_| {
        panic!(
            "libmoemamba not found in {} (from {source}): set MOEMAMBA_LIB_DIR to the folder holding \
             libmoemamba.so, or PKG_CONFIG_PATH to the lib/pkgconfig folder of an installed prefix, \
             or build it here (cmake --build --preset release --target moemamba)",
            dir.display()
        )
    })
}
