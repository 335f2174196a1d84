/* plot.c: loss plots as PNG (plot.h): a small rasteriser, a 3x5 font,
 * and a PNG writer over zlib. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "lmf/plot.h"
#include "lmf/util.h"
#include "lmf/banned.h"

enum { W = 640, H = 480, X0 = 80, X1 = 616, Y0 = 48, Y1 = 420, S = 2 };

/* glyphs: five rows of three bits, as octal digits, top row first */
static const char *const font[][2] = {
	{ "0", "75557" }, { "1", "26227" }, { "2", "71747" }, { "3", "71317" },
	{ "4", "55711" }, { "5", "74717" }, { "6", "74757" }, { "7", "71122" },
	{ "8", "75757" }, { "9", "75717" }, { "A", "25755" }, { "B", "65656" },
	{ "C", "34443" }, { "D", "65556" }, { "E", "74647" }, { "F", "74644" },
	{ "G", "34553" }, { "H", "55755" }, { "I", "72227" }, { "J", "11152" },
	{ "K", "55655" }, { "L", "44447" }, { "M", "57755" }, { "N", "65555" },
	{ "O", "25552" }, { "P", "65644" }, { "Q", "25563" }, { "R", "65655" },
	{ "S", "34216" }, { "T", "72222" }, { "U", "55557" }, { "V", "55552" },
	{ "W", "55775" }, { "X", "55255" }, { "Y", "55222" }, { "Z", "71247" },
	{ ".", "00002" }, { "-", "00700" }, { "_", "00007" }, { "/", "11244" },
	{ "+", "02720" }, { ":", "02020" }, { "(", "12221" }, { ")", "42224" },
	{ " ", "00000" },
};

static unsigned char img[H][W][3];

static void
blend(int x, int y, const unsigned char *c, double a)
{
	int k;

	if (x < 0 || y < 0 || x >= W || y >= H)
		return;
	for (k = 0; k < 3; k++)
		img[y][x][k] = (unsigned char)lround(a * c[k] + (1 - a) *
		    img[y][x][k]);
}

static void
rect(int x, int y, int w, int h, const unsigned char *c)
{
	int i, j;

	for (j = y; j < y + h; j++)
		for (i = x; i < x + w; i++)
			blend(i, j, c, 1);
}

/* a line 2 pixels wide */
static void
line(double xa, double ya, double xb, double yb, const unsigned char *c,
    double a)
{
	double dx = xb - xa, dy = yb - ya;
	int n = (int)ceil(fmax(fabs(dx), fabs(dy))), i;
	int lx = INT32_MIN, ly = INT32_MIN;

	for (i = 0; i <= n; i++) {
		double t = n ? (double)i / n : 0;
		int x = (int)lround(xa + t * dx), y = (int)lround(ya + t * dy);

		if (x == lx && y == ly)
			continue;
		blend(x, y, c, a);
		if (fabs(dx) >= fabs(dy))
			blend(x, y + 1, c, a);
		else
			blend(x + 1, y, c, a);
		lx = x;
		ly = y;
	}
}

static const char *
glyph(int ch)
{
	size_t i;

	ch = toupper(ch);
	for (i = 0; i < sizeof font / sizeof font[0]; i++)
		if (font[i][0][0] == ch)
			return font[i][1];
	return "77777";
}

static int
text_width(const char *s)
{
	return (int)strlen(s) * 4 * S;
}

static void
text(int x, int y, const char *s, const unsigned char *c)
{
	int r, b;

	for (; *s; s++, x += 4 * S) {
		const char *g = glyph((unsigned char)*s);

		for (r = 0; r < 5; r++)
			for (b = 0; b < 3; b++)
				if ((g[r] - '0') >> (2 - b) & 1)
					rect(x + b * S, y + r * S, S, S, c);
	}
}

/* vertical text, bottom to top */
static void
vtext(int x, int y, const char *s, const unsigned char *c)
{
	int r, b;

	for (; *s; s++, y -= 4 * S) {
		const char *g = glyph((unsigned char)*s);

		for (r = 0; r < 5; r++)
			for (b = 0; b < 3; b++)
				if ((g[r] - '0') >> (2 - b) & 1)
					rect(x + r * S, y - b * S - S, S, S, c);
	}
}

void
lmf_plot_smooth(const double *y, int n, double *out)
{
	double w = 1.8 * (1 / (1 + exp(-0.05 * n)) - 0.5), last;
	int i;

	if (n <= 0)
		return;
	last = out[0] = y[0];
	for (i = 1; i < n; i++)
		last = out[i] = last * w + (1 - w) * y[i];
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16 & 0xff;
	p[2] = v >> 8 & 0xff;
	p[3] = v & 0xff;
}

static int
chunk(FILE *f, const char *type, const unsigned char *d, uint32_t n)
{
	unsigned char b[4];
	uLong crc = crc32(0, (const Bytef *)type, 4);

	if (n)
		crc = crc32(crc, d, n);
	put32(b, n);
	if (fwrite(b, 1, 4, f) != 4 || fwrite(type, 1, 4, f) != 4 ||
	    (n && fwrite(d, 1, n, f) != n))
		return -1;
	put32(b, (uint32_t)crc);
	return fwrite(b, 1, 4, f) == 4 ? 0 : -1;
}

static int
write_png(const char *path, char *err, size_t errlen)
{
	static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n',
		0x1a, '\n' };
	size_t rawn = (size_t)H * (1 + 3 * W);
	unsigned char *raw = xmalloc(rawn), ihdr[13] = { 0 }, *z;
	uLongf zn = compressBound(rawn);
	struct lmf_afile af;
	int y, rc = 0;

	for (y = 0; y < H; y++) {
		raw[(size_t)y * (1 + 3 * W)] = 0;
		memcpy(raw + (size_t)y * (1 + 3 * W) + 1, img[y], 3 * W);
	}
	z = xmalloc(zn);
	if (compress2(z, &zn, raw, rawn, 6) != Z_OK)
		BUG("compress2");
	put32(ihdr, W);
	put32(ihdr + 4, H);
	ihdr[8] = 8;
	ihdr[9] = 2;
	if (lmf_afile_open(&af, path) < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", path,
		    strerror(errno));
		rc = -1;
	} else if (fwrite(sig, 1, 8, af.f) != 8 || chunk(af.f, "IHDR", ihdr,
	    13) || chunk(af.f, "IDAT", z, (uint32_t)zn) || chunk(af.f, "IEND",
	    NULL, 0) || lmf_afile_commit(&af) < 0) {
		snprintf(err, errlen, "cannot write '%s': %s", path,
		    strerror(errno));
		if (af.f)
			lmf_afile_abort(&af);
		rc = -1;
	}
	free(raw);
	free(z);
	return rc;
}

int
lmf_plot_png(const char *path, const char *title, const char *xlabel,
    const char *ylabel, const double *x, const double *y, int n, char *err,
    size_t errlen)
{
	static const unsigned char black[3] = { 0, 0, 0 };
	static const unsigned char blue[3] = { 0x1f, 0x77, 0xb4 };
	double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY;
	double ymax = -INFINITY, *sm, px, py, lx = 0, ly = 0, v, m;
	char num[32];
	int i, k;

	memset(img, 255, sizeof img);
	for (i = 0; i < n; i++) {
		xmin = fmin(xmin, x[i]);
		xmax = fmax(xmax, x[i]);
		if (isfinite(y[i])) {
			ymin = fmin(ymin, y[i]);
			ymax = fmax(ymax, y[i]);
		}
	}
	if (!(xmax > xmin)) {
		xmin = n ? xmin - 1 : 0;
		xmax = n ? xmax + 1 : 1;
	}
	if (!(ymax > ymin)) {
		ymin = isfinite(ymin) ? ymin - 1 : 0;
		ymax = isfinite(ymax) ? ymax + 1 : 1;
	}
	m = (xmax - xmin) * 0.05;   /* matplotlib's margins */
	xmin -= m;
	xmax += m;
	m = (ymax - ymin) * 0.05;
	ymin -= m;
	ymax += m;
#define PX(v) (X0 + ((v) - xmin) / (xmax - xmin) * (X1 - X0))
#define PY(v) (Y1 - ((v) - ymin) / (ymax - ymin) * (Y1 - Y0))
	for (k = 0; k <= 4; k++) {
		v = xmin + (xmax - xmin) * (0.05 + 0.9 * k / 4) / 1;
		snprintf(num, sizeof num, "%.4g", v);
		rect((int)PX(v), Y1, 1, 6, black);
		text((int)PX(v) - text_width(num) / 2, Y1 + 10, num, black);
		v = ymin + (ymax - ymin) * (0.05 + 0.9 * k / 4);
		snprintf(num, sizeof num, "%.4g", v);
		rect(X0 - 6, (int)PY(v), 6, 1, black);
		text(X0 - 10 - text_width(num), (int)PY(v) - 5, num, black);
	}
	sm = xmallocarray((size_t)n + 1, sizeof *sm);
	lmf_plot_smooth(y, n, sm);
	for (k = 0; k < 2; k++)
		for (i = 0; i < n; i++) {
			px = PX(x[i]);
			py = PY(k ? sm[i] : y[i]);
			if (!isfinite(py))
				continue;
			if (i == 0 || n == 1)
				line(px, py, px, py, blue, k ? 1 : 0.4);
			else
				line(lx, ly, px, py, blue, k ? 1 : 0.4);
			lx = px;
			ly = py;
		}
#undef PX
#undef PY
	free(sm);
	rect(X0, Y0, X1 - X0, 1, black);
	rect(X0, Y1, X1 - X0 + 1, 1, black);
	rect(X0, Y0, 1, Y1 - Y0, black);
	rect(X1, Y0, 1, Y1 - Y0, black);
	text((X0 + X1 - text_width(xlabel)) / 2, Y1 + 34, xlabel, black);
	vtext(12, (Y0 + Y1 + text_width(ylabel)) / 2, ylabel, black);
	text((X0 + X1 - text_width(title)) / 2, Y0 - 22, title, black);
	return write_png(path, err, errlen);
}
