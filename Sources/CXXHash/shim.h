#include <stddef.h>
#include <stdint.h>
/* Debian's plain XXH3_64bits is the SSE2 build; the runtime-dispatching entry points pick
   AVX2/AVX-512 (about 2x faster here). Declared directly: xxh_x86dispatch.h would #define
   the plain names away. */
typedef uint64_t cw_xxh64_t;
cw_xxh64_t XXH3_64bits_dispatch(const void *input, size_t len);
cw_xxh64_t XXH3_64bits_withSeed_dispatch(const void *input, size_t len, cw_xxh64_t seed);

/* Streaming XXH3 (the same value as the one-shot functions for the same bytes): the recorder's
   second core hashes a large tensor a piece at a time, so that another thread can take over
   between pieces. The state is opaque here. */
typedef struct XXH3_state_s cw_xxh3_state;
cw_xxh3_state *XXH3_createState(void);
int XXH3_freeState(cw_xxh3_state *state);
int XXH3_64bits_reset_withSeed(cw_xxh3_state *state, cw_xxh64_t seed);
int XXH3_64bits_update_dispatch(cw_xxh3_state *state, const void *input, size_t len);
cw_xxh64_t XXH3_64bits_digest(const cw_xxh3_state *state);
