#ifndef LMF_PLOT_H
#define LMF_PLOT_H
/* plot.h: LLaMA-Factory's loss plots (extras/ploting.py) as PNG files
 * written here: a 640x480 figure (matplotlib's 6.4x4.8 in at dpi 100),
 * the raw series in #1f77b4 at alpha 0.4, the smoothed series opaque,
 * axes with ticks and numbers in a built-in 3x5 bitmap font, the title
 * and the axis labels. */
#include <stddef.h>

/* LLaMA-Factory's smooth(): the TensorBoard-like EMA with weight
 * w = 1.8 (1 / (1 + exp(-0.05 n)) - 0.5); out[0] = y[0] */
void lmf_plot_smooth(const double *y, int n, double *out);
/* the plot of (x[i], y[i]) to path (atomically). 0, or -1 with err */
int lmf_plot_png(const char *path, const char *title, const char *xlabel,
    const char *ylabel, const double *x, const double *y, int n, char *err,
    size_t errlen);

#endif
