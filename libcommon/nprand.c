/* nprand.c: NumPy's MT19937 RandomState and default_rng's PCG64 permutation,
 * number for number (see nprand.h). */
#include <string.h>

#include "lmf/nprand.h"
#include "lmf/banned.h"

void
lmf_np_mt_seed(struct lmf_np_mt *m, uint32_t seed)
{
	int i;

	m->key[0] = seed;
	for (i = 1; i < 624; i++)
		m->key[i] = 1812433253u * (m->key[i - 1] ^
		    (m->key[i - 1] >> 30)) + (uint32_t)i;
	m->pos = 624;
}

static void
mt_regen(struct lmf_np_mt *m)
{
	uint32_t y;
	int i;

	for (i = 0; i < 624; i++) {
		y = (m->key[i] & 0x80000000u) |
		    (m->key[(i + 1) % 624] & 0x7fffffffu);
		m->key[i] = m->key[(i + 397) % 624] ^ (y >> 1) ^
		    (y & 1 ? 0x9908b0dfu : 0);
	}
	m->pos = 0;
}

uint32_t
lmf_np_mt_next(struct lmf_np_mt *m)
{
	uint32_t y;

	if (m->pos >= 624)
		mt_regen(m);
	y = m->key[m->pos++];
	y ^= y >> 11;
	y ^= (y << 7) & 0x9d2c5680u;
	y ^= (y << 15) & 0xefc60000u;
	return y ^ (y >> 18);
}

double
lmf_np_mt_random(struct lmf_np_mt *m)
{
	uint32_t a = lmf_np_mt_next(m) >> 5, b = lmf_np_mt_next(m) >> 6;

	return (a * 67108864.0 + b) / 9007199254740992.0;
}

uint32_t
lmf_np_shuffle_seed(struct lmf_np_mt *m)
{
	uint32_t s = m->pos < 624 ? m->key[m->pos] : m->key[0];

	(void)lmf_np_mt_random(m);
	return s;
}

/* ---- SeedSequence (pool of 4 words) ---- */

#define INIT_A 0x43b0d7e5u
#define MULT_A 0x931e8875u
#define INIT_B 0x8b51f9ddu
#define MULT_B 0x58f38dedu
#define MIX_L 0xca01f9ddu
#define MIX_R 0x4973f715u

static uint32_t
hashmix(uint32_t v, uint32_t *h)
{
	v ^= *h;
	*h *= MULT_A;
	v *= *h;
	return v ^ (v >> 16);
}

static uint32_t
mix(uint32_t x, uint32_t y)
{
	uint32_t r = MIX_L * x - MIX_R * y;

	return r ^ (r >> 16);
}

/* generate_state(4, uint64) of SeedSequence(seed) */
static void
seed_state(uint64_t seed, uint64_t out[4])
{
	uint32_t ent[2], pool[4], h = INIT_A, st[8], d;
	int ne = 0, i, j;

	ent[ne++] = (uint32_t)seed;
	if (seed >> 32)
		ent[ne++] = (uint32_t)(seed >> 32);
	for (i = 0; i < 4; i++)
		pool[i] = hashmix(i < ne ? ent[i] : 0, &h);
	for (i = 0; i < 4; i++)
		for (j = 0; j < 4; j++)
			if (i != j)
				pool[j] = mix(pool[j], hashmix(pool[i], &h));
	h = INIT_B;
	for (i = 0; i < 8; i++) {
		d = pool[i % 4] ^ h;
		h *= MULT_B;
		d *= h;
		st[i] = d ^ (d >> 16);
	}
	for (i = 0; i < 4; i++)
		out[i] = st[2 * i] | (uint64_t)st[2 * i + 1] << 32;
}

/* ---- PCG64 (XSL-RR 128/64) ---- */

typedef unsigned __int128 u128;

struct pcg {
	u128 state, inc;
	uint32_t buf;
	int has;
};

static void
pcg_step(struct pcg *p)
{
	const u128 mul = ((u128)2549297995355413924ull << 64) |
	    4865540595714422341ull;

	p->state = p->state * mul + p->inc;
}

static uint64_t
pcg_next64(struct pcg *p)
{
	uint64_t x;
	unsigned rot;

	pcg_step(p);
	x = (uint64_t)(p->state >> 64) ^ (uint64_t)p->state;
	rot = (unsigned)(p->state >> 122);
	return (x >> rot) | (x << ((64 - rot) & 63));
}

static uint32_t
pcg_next32(struct pcg *p)
{
	uint64_t v;

	if (p->has) {
		p->has = 0;
		return p->buf;
	}
	v = pcg_next64(p);
	p->has = 1;
	p->buf = (uint32_t)(v >> 32);
	return (uint32_t)v;
}

/* random_interval: a draw in [0, max] by masking and rejection, 32-bit
 * draws while max fits in them (Generator.shuffle's) */
static uint64_t
interval(struct pcg *p, uint64_t max)
{
	uint64_t mask = max, v;
	int s;

	if (!max)
		return 0;
	for (s = 1; s < 64; s *= 2)
		mask |= mask >> s;
	if (max <= 0xffffffffu) {
		while ((v = pcg_next32(p) & mask) > max)
			;
	} else {
		while ((v = pcg_next64(p) & mask) > max)
			;
	}
	return v;
}

void
lmf_np_permutation(uint64_t seed, size_t n, size_t *perm)
{
	struct pcg p = { 0 };
	uint64_t s[4];
	size_t i, j, t;

	seed_state(seed, s);
	p.inc = (((u128)s[2] << 64 | s[3]) << 1) | 1;
	pcg_step(&p);
	p.state += (u128)s[0] << 64 | s[1];
	pcg_step(&p);
	for (i = 0; i < n; i++)
		perm[i] = i;
	for (i = n; i-- > 1;) {
		j = (size_t)interval(&p, i);
		t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
}
