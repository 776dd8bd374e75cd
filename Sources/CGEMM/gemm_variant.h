// One instruction set's GEMM: the micro-kernel, the packers and the panel loop. cw_gemm.c
// includes this file once per instruction set, with
//   V(name)    the name with the set's suffix
//   CW_TARGET  the function attribute that selects the set (empty: the compiler's default)
//   CW_MR      rows of the micro-tile, CW_NV 16-float vectors per tile row (CW_NR = 16 * CW_NV)
// Nothing here depends on the tile shape except which elements a call computes: each element's
// sum runs over k in order, one rounded product and one rounded addition at a time.

#define CW_NR (16 * CW_NV)

/// tile[r * CW_NR + j] = sum over q in order of ap[q * CW_MR + r] * bp[q * CW_NR + j], each
/// product added in turn to 0 (or, with `more`, to the tile's value: the same chain continued).
CW_TARGET static void V(kernel)(int k, const float *restrict ap, const float *restrict bp, float *restrict tile, int more) {
    cw_v16 acc[CW_MR][CW_NV];
    for (int r = 0; r < CW_MR; r++)
        for (int v = 0; v < CW_NV; v++) {
            if (more) memcpy(&acc[r][v], tile + r * CW_NR + 16 * v, sizeof(cw_v16));
            else acc[r][v] = (cw_v16)0.0f;
        }
    for (int q = 0; q < k; q++) {
        cw_v16 b[CW_NV];
        for (int v = 0; v < CW_NV; v++) memcpy(&b[v], bp + (size_t)q * CW_NR + 16 * v, sizeof(cw_v16));
        const float *a = ap + (size_t)q * CW_MR;
        for (int r = 0; r < CW_MR; r++) {
            cw_v16 x = (cw_v16)a[r];
            for (int v = 0; v < CW_NV; v++) acc[r][v] = acc[r][v] + x * b[v];
        }
    }
    for (int r = 0; r < CW_MR; r++)
        for (int v = 0; v < CW_NV; v++) memcpy(tile + r * CW_NR + 16 * v, &acc[r][v], sizeof(cw_v16));
}

/// Columns [j0, j0 + nb) of B (rows 0..<k) into panel[q * CW_NR + jj], zeros past nb.
CW_TARGET static void V(pack_b)(const cw_matrix *b, int k, int j0, int nb, float *restrict panel) {
    if (b->window && b->transposed) { cw_pack_im2col_lanes(b->window, b->data, j0, nb, k, panel, CW_NR); return; }
    if (b->window) {
        cw_im2col_runs runs;
        cw_runs_make(b->window, j0, nb, &runs);
        cw_pack_im2col_rows(b->window, b->data, &runs, 0, k, panel, CW_NR);
        cw_zero_lanes(panel, k, nb, CW_NR);
        return;
    }
    ptrdiff_t coff[CW_NR];
    int contiguous = cw_offsets(&b->cols, j0, nb, coff);
    if (!contiguous && b->rows.stride == 1 && b->rows.block <= 0) {
        // Columns contiguous along k (B = W^T of a dense layer): read each column in one sweep.
        for (int jj = 0; jj < nb; jj++) {
            const float *src = b->data + coff[jj];
            for (int q = 0; q < k; q++) panel[(size_t)q * CW_NR + jj] = src[q];
        }
        cw_zero_lanes(panel, k, nb, CW_NR);
        return;
    }
    cw_axis_walker rw = cw_walker(&b->rows, 0);
    for (int q = 0; q < k; q++) {
        const float *src = b->data + cw_walker_next(&rw);
        float *dst = panel + (size_t)q * CW_NR;
        if (contiguous) cw_copy_short(dst, src + coff[0], nb);
        else for (int jj = 0; jj < nb; jj++) dst[jj] = src[coff[jj]];
        for (int jj = nb; jj < CW_NR; jj++) dst[jj] = 0;
    }
}

/// Rows [i0, i0 + mb) of A (columns 0..<k) into ap[q * CW_MR + r], zeros past mb.
CW_TARGET static void V(pack_a)(const cw_matrix *a, int k, int i0, int mb, float *restrict ap) {
    if (a->window && a->transposed) {
        cw_im2col_runs runs;
        cw_runs_make(a->window, i0, mb, &runs);
        cw_pack_im2col_rows(a->window, a->data, &runs, 0, k, ap, CW_MR);
        cw_zero_lanes(ap, k, mb, CW_MR);
        return;
    } else if (a->window) {
        cw_pack_im2col_lanes(a->window, a->data, i0, mb, k, ap, CW_MR);
        return;
    } else {
        ptrdiff_t roff[CW_MR];
        cw_offsets(&a->rows, i0, mb, roff);
        cw_axis_walker cw = cw_walker(&a->cols, 0);
        for (int q = 0; q < k; q++) {
            const float *src = a->data + cw_walker_next(&cw);
            float *dst = ap + (size_t)q * CW_MR;
            for (int r = 0; r < mb; r++) dst[r] = src[roff[r]];
        }
    }
    cw_zero_lanes(ap, k, mb, CW_MR);
}

/// c = alpha * tile + beta * c (alpha * tile when beta = 0), then + the bias of the row (or, for a
/// product computed transposed, of the column), for the mb x nb corner of the tile at rows i0,
/// columns j0.
CW_TARGET static void V(store)(const float *restrict tile, const cw_output *c, int i0, int mb, int j0, int nb,
                               float alpha, float beta, const float *row_bias, const float *col_bias) {
    ptrdiff_t roff[CW_MR], coff[CW_NR];
    cw_offsets(&c->rows, i0, mb, roff);
    int contiguous = cw_offsets(&c->cols, j0, nb, coff);
    if (!contiguous) {
        // Columns apart (a product computed transposed): write column by column, whose rows are
        // usually the contiguous ones.
        for (int j = 0; j < nb; j++) {
            float *out = c->data + coff[j];
            float add = col_bias ? col_bias[j0 + j] : 0;
            for (int r = 0; r < mb; r++) {
                float *o = out + roff[r], t = tile[r * CW_NR + j];
                float v = beta == 0 ? alpha * t : alpha * t + beta * *o;
                *o = row_bias ? v + row_bias[i0 + r] : col_bias ? v + add : v;
            }
        }
        return;
    }
    for (int r = 0; r < mb; r++) {
        const float *t = tile + r * CW_NR;
        float *restrict out = c->data + roff[r] + coff[0];
        if (beta == 0) for (int j = 0; j < nb; j++) out[j] = alpha * t[j];
        else for (int j = 0; j < nb; j++) out[j] = alpha * t[j] + beta * out[j];
        if (row_bias) { float add = row_bias[i0 + r]; for (int j = 0; j < nb; j++) out[j] = out[j] + add; }
        if (col_bias) for (int j = 0; j < nb; j++) out[j] = out[j] + col_bias[j0 + j];
    }
}

static void V(pack_shared)(const cw_gemm_plan *plan, int m, int n, int k, const cw_matrix *a, const cw_matrix *b,
                           float *shared) {
    if (plan->streams_b) {
        for (int i0 = 0; i0 < m; i0 += CW_MR)
            V(pack_a)(a, k, i0, cw_min(CW_MR, m - i0), shared + (size_t)(i0 / CW_MR) * CW_MR * (size_t)k);
    } else {
        for (int j0 = 0; j0 < n; j0 += CW_NR)
            V(pack_b)(b, k, j0, cw_min(CW_NR, n - j0), shared + (size_t)(j0 / CW_NR) * CW_NR * (size_t)k);
    }
}

/// Computes worker `worker`'s panels. k runs in blocks of CW_KC, so a block of the panel stays in
/// L1 while every tile of the other operand passes over it; each tile's chain is continued from
/// block to block through its accumulator in `stream` (a float holds it exactly: the same bits).
static void V(run)(const cw_gemm_plan *plan, int m, int n, int k, float alpha, const cw_matrix *a, const cw_matrix *b,
                   float beta, const cw_output *c, const float *row_bias, const float *col_bias, const float *shared,
                   float *stream, int worker, int workers) {
    int p0 = (int)((long)plan->panels * worker / workers), p1 = (int)((long)plan->panels * (worker + 1) / workers);
    size_t kk = (size_t)k, tiles = plan->streams_b ? (size_t)(m + CW_MR - 1) / CW_MR : (size_t)(n + CW_NR - 1) / CW_NR;
    float *acc = stream + (plan->streams_b ? kk * CW_NR : kk * CW_MR);
    for (int p = p0; p < p1; p++) {
        int j0 = p * CW_NR, nb = cw_min(CW_NR, n - j0), i0 = p * CW_MR, mb = cw_min(CW_MR, m - i0);
        if (plan->streams_b) V(pack_b)(b, k, j0, nb, stream);
        else V(pack_a)(a, k, i0, mb, stream);
        int kb = 0;
        do {
            int kc = cw_min(CW_KC, k - kb);
            for (size_t t = 0; t < tiles; t++) {
                const float *ap = plan->streams_b ? shared + t * CW_MR * kk : stream;
                const float *bp = plan->streams_b ? stream : shared + t * CW_NR * kk;
                V(kernel)(kc, ap + (size_t)kb * CW_MR, bp + (size_t)kb * CW_NR, acc + t * CW_MR * CW_NR, kb > 0);
            }
            kb += kc;
        } while (kb < k);
        for (size_t t = 0; t < tiles; t++) {
            if (plan->streams_b) {
                int ti = (int)t * CW_MR;
                V(store)(acc + t * CW_MR * CW_NR, c, ti, cw_min(CW_MR, m - ti), j0, nb, alpha, beta, row_bias, col_bias);
            } else {
                int tj = (int)t * CW_NR;
                V(store)(acc + t * CW_MR * CW_NR, c, i0, mb, tj, cw_min(CW_NR, n - tj), alpha, beta, row_bias, col_bias);
            }
        }
    }
}

#undef CW_NR
