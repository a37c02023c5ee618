// GCC 12's AVX-512 headers start some intrinsics from an "undefined" register and then
// warn about it under -W(maybe-)uninitialized (GCC bug 105593): not this code's doing.
// Included by the files that use AVX-512 intrinsics, it silences those two warnings
// for the rest of the including file.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
