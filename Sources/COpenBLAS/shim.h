#include <cblas.h>
/* Introspection exported by OpenBLAS (declared in openblas_config.h / cblas.h). */
char *openblas_get_config(void);
char *openblas_get_corename(void);
int openblas_get_num_threads(void);
void openblas_set_num_threads(int num_threads);
