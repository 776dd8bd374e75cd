// One instruction set's direct convolution kernels. cw_conv.c includes this file once per
// instruction set, with V(name), CW_TARGET and CW_MR as for gemm_variant.h, and CW_OWN_FORWARD
// where the set has a forward of its own (AVX-512: forward_avx512_rows). A tile is CW_MR
// lanes (output positions, or rows of the im2col matrix) by 16 output channels; each element
// sums its products over k in order, one rounded product and one rounded addition at a time.

#ifndef CW_OWN_FORWARD
/// tile[r][f] (+)= sum over q in order of lane[r][off[q]] * wt[q * ldw + f]: lane r is an output
/// position's corner in a zero-padded sample, f 16 channels. With `more`, each chain continues
/// from the tile's value (a float holds it exactly: the same bits).
CW_TARGET static void V(forward_tile)(int k, const int *restrict off, const float *const *lane, const float *restrict wt,
                                      int ldw, float *restrict tile, int more) {
    cw_v16 acc[CW_MR];
    for (int r = 0; r < CW_MR; r++) {
        if (more) memcpy(&acc[r], tile + r * 16, sizeof(cw_v16));
        else acc[r] = (cw_v16)0.0f;
    }
    const float *p[CW_MR];
    for (int r = 0; r < CW_MR; r++) p[r] = lane[r];
    for (int q = 0; q < k; q++) {
        cw_v16 b;
        memcpy(&b, wt + (size_t)q * ldw, sizeof b);
        int o = off[q];
        for (int r = 0; r < CW_MR; r++) acc[r] = acc[r] + (cw_v16)p[r][o] * b;
    }
    for (int r = 0; r < CW_MR; r++) memcpy(tile + r * 16, &acc[r], sizeof(cw_v16));
}

/// The stride-1 convolution of one zero-padded sample: y[f, j] = acc (+ bias[f]) for the output
/// positions j = oh * out_w + ow, taken CW_MR at a time in that order, each lane reading from
/// its position's corner (oh, ow) of the padded sample (row pitch = padded width). Lanes are
/// output positions only, none on the padding columns (an 8 x 8 map has 10 columns padded: a
/// fifth of consecutive padded positions would be computed and dropped).
///
/// Blocked for L1: CW_FCHUNK tiles of positions pass over a block of CW_FKC k-steps of 16
/// channels' weights (4.5 KB) before the next block, their chains continuing through `acc`.
/// Unblocked, each 6-position AVX2 tile re-read all of a layer's weights from L2 (64-channel 8 x 8
/// layers, Zen 4 as AVX2: 30 -> 36 GMAC/s). The results leave channel by channel in contiguous
/// runs; stored element by element one plane apart between the kernel's loads, they stalled on 4
/// KB aliasing (a 32 x 32 plane is 4 KB: 25 -> 39 GMAC/s on 16-channel layers).
#define CW_FKC 72
#define CW_FCHUNK 16
CW_TARGET static void V(forward)(const cw_window *w, const float *xpad, const int *off, const float *wt, int o,
                                 const float *bias, float *y) {
    int pitch = cw_conv_pitch(w), plane = w->out_h * w->out_w, k = w->channels * w->kh * w->kw;
    int ldw = cw_round16(o), tiles = (plane + CW_MR - 1) / CW_MR;
    _Alignas(64) float acc[CW_FCHUNK * CW_MR * 16];
    const float *lane[CW_FCHUNK * CW_MR];
    for (int t0 = 0; t0 < tiles; t0 += CW_FCHUNK) {
        int tn = cw_min(CW_FCHUNK, tiles - t0), j0 = t0 * CW_MR, jn = cw_min(tn * CW_MR, plane - j0);
        // Lanes past the last position repeat the first one's reads; their results are dropped.
        for (int l = 0; l < tn * CW_MR; l++) {
            int j = j0 + (l < jn ? l : 0);
            lane[l] = xpad + (size_t)(j / w->out_w) * pitch + j % w->out_w;
        }
        for (int f0 = 0; f0 < o; f0 += 16) {
            int kb = 0;
            do {
                int kc = cw_min(CW_FKC, k - kb);
                for (int t = 0; t < tn; t++)
                    V(forward_tile)(kc, off + kb, lane + t * CW_MR, wt + (size_t)kb * ldw + f0, ldw, acc + t * CW_MR * 16, kb > 0);
                kb += kc;
            } while (kb < k);
            int fb = cw_min(16, o - f0);
            for (int f = 0; f < fb; f++) {
                float *dst = y + (size_t)(f0 + f) * plane + j0;
                const float *src = acc + f;
                if (bias) {
                    float add = bias[f0 + f];
                    for (int l = 0; l < jn; l++) dst[l] = src[(size_t)l * 16] + add;
                } else {
                    for (int l = 0; l < jn; l++) dst[l] = src[(size_t)l * 16];
                }
            }
        }
    }
}
#undef CW_FKC
#undef CW_FCHUNK
#endif

/// tile[r][f] (+)= sum over the group's positions in order (sample, oh, ow) of
/// lane[r][sample * sample_pitch + oh * sh * pitch + ow * sw] * dyt[q * ldd + f]: lane r is row
/// r of the im2col matrix, read from the zero-padded samples.
CW_TARGET static void V(weight_tile)(const cw_window *w, int samples, size_t sample_pitch, const float *const *lane,
                                     const float *restrict dyt, int ldd, float *restrict tile, int more) {
    int pitch = cw_conv_pitch(w);
    cw_v16 acc[CW_MR];
    for (int r = 0; r < CW_MR; r++) {
        if (more) memcpy(&acc[r], tile + r * 16, sizeof(cw_v16));
        else acc[r] = (cw_v16)0.0f;
    }
    const float *p[CW_MR];
    for (int r = 0; r < CW_MR; r++) p[r] = lane[r];
    const float *d = dyt;
    for (int s = 0; s < samples; s++) {
        for (int oh = 0; oh < w->out_h; oh++) {
            size_t row = (size_t)s * sample_pitch + (size_t)oh * w->sh * pitch;
            for (int ow = 0; ow < w->out_w; ow++) {
                size_t i = row + (size_t)ow * w->sw;
                cw_v16 b;
                memcpy(&b, d, sizeof b);
                d += ldd;
                for (int r = 0; r < CW_MR; r++) acc[r] = acc[r] + (cw_v16)p[r][i] * b;
            }
        }
    }
    for (int r = 0; r < CW_MR; r++) memcpy(tile + r * 16, &acc[r], sizeof(cw_v16));
}

/// Lane tiles [t0, t1) of dW^T[K, O] for a group of zero-padded samples (see cw_conv_weight_grad).
CW_TARGET static void V(weight_grad)(const cw_window *w, int samples, const float *xpads, const int *off,
                                     const float *dyt, int o, int accumulate, float *dwt, int t0, int t1) {
    int k = w->channels * w->kh * w->kw, ldd = cw_round16(o);
    size_t sample_pitch = cw_conv_padded_floats(w);
    _Alignas(64) float tile[CW_MR * 16];
    for (int t = t0; t < t1; t++) {
        int r0 = t * CW_MR, rb = cw_min(CW_MR, k - r0);
        const float *lane[CW_MR];
        for (int r = 0; r < CW_MR; r++) lane[r] = xpads + off[r < rb ? r0 + r : r0];
        for (int f0 = 0; f0 < o; f0 += 16) {
            int fb = cw_min(16, o - f0);
            V(weight_tile)(w, samples, sample_pitch, lane, dyt + f0, ldd, tile, 0);
            for (int r = 0; r < rb; r++) {
                float *dst = dwt + (size_t)(r0 + r) * o + f0;
                const float *tr = tile + r * 16;
                if (accumulate) for (int f = 0; f < fb; f++) dst[f] = tr[f] + dst[f];
                else for (int f = 0; f < fb; f++) dst[f] = tr[f];
            }
        }
    }
}
