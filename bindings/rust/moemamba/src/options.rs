// The C options structs, filled by their *_init functions.
use crate::error::{check, Result};
use moemamba_sys as sys;
use std::mem::{size_of, MaybeUninit};

/// The library's defaults for a C options struct: `init` is its `mmb_*_init`, given this
/// crate's size of the struct, so a newer library never writes past it.
pub(crate) fn defaults<T>(init: unsafe extern "C" fn(*mut T, usize) -> sys::mmb_status) -> Result<T> {
    let mut raw = MaybeUninit::<T>::uninit();
    check(unsafe { init(raw.as_mut_ptr(), size_of::<T>()) })?;
    // MMB_OK: the library wrote every byte of the struct.
    Ok(unsafe { raw.assume_init() })
}
