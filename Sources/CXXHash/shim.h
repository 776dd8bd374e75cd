#include <stddef.h>
#include <stdint.h>
/* Debian's plain XXH3_64bits is the SSE2 build; the runtime-dispatching entry points pick
   AVX2/AVX-512 (about 2x faster here). Declared directly: xxh_x86dispatch.h would #define
   the plain names away. */
typedef uint64_t cw_xxh64_t;
cw_xxh64_t XXH3_64bits_dispatch(const void *input, size_t len);
cw_xxh64_t XXH3_64bits_withSeed_dispatch(const void *input, size_t len, cw_xxh64_t seed);
