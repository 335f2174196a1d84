# lmf: one flat Makefile. make, make check, make bench, make install.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
LIBEXECDIR ?= $(PREFIX)/lib/lmf
DESTDIR ?=
CC ?= cc
CFLAGS ?= -O2 -g
# one OpenMP thread team for the kernels and OpenBLAS: Debian's OpenMP build
# of OpenBLAS (libopenblas-openmp-dev) when installed, found by its own
# pkg-config file and run from its directory (rpath), else no OpenMP
OMPBLAS := $(wildcard /usr/lib/$(shell $(CC) -print-multiarch 2>/dev/null)/openblas-openmp)
OMPFLAGS := $(if $(OMPBLAS),-fopenmp)
PKGS = openblas jansson libzstd libpcre2-8 libutf8proc yaml-0.1 zlib
PKG_CFLAGS := $(shell PKG_CONFIG_PATH=$(OMPBLAS)/pkgconfig pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell PKG_CONFIG_PATH=$(OMPBLAS)/pkgconfig pkg-config --libs $(PKGS) 2>/dev/null || echo -lopenblas -ljansson -lzstd -lpcre2-8 -lutf8proc -lyaml -lz)
# MPI (data-parallel training, dist.c) when an MPI C compiler wrapper or
# OpenMPI's pkg-config file is found; MPI=0 builds the one-rank stub
MPI ?= 1
MPICC := $(if $(filter 1,$(MPI)),$(shell command -v mpicc 2>/dev/null))
MPI_CFLAGS := $(if $(MPICC),$(shell $(MPICC) --showme:compile 2>/dev/null || \
	pkg-config --cflags ompi-c 2>/dev/null),$(if $(filter 1,$(MPI)),$(shell \
	pkg-config --cflags ompi-c 2>/dev/null)))
MPI_LIBS := $(if $(MPICC),$(shell $(MPICC) --showme:link 2>/dev/null || \
	pkg-config --libs ompi-c 2>/dev/null),$(if $(filter 1,$(MPI)),$(shell \
	pkg-config --libs ompi-c 2>/dev/null)))
MPI_DEF := $(if $(MPI_LIBS),-DLMF_MPI)
# oneDNN (bf16 matrix products, gemm.c) when its header compiles; DNNL=0
# builds without it (bf16 inputs then widen into sgemm)
DNNL ?= 1
DNNL_LIBS := $(if $(filter 1,$(DNNL)),$(shell echo '\#include <oneapi/dnnl/dnnl.h>' | \
	$(CC) -E -x c - >/dev/null 2>&1 && echo -ldnnl))
DNNL_DEF := $(if $(DNNL_LIBS),-DLMF_DNNL)
# lmf-board's HTTP server (libmicrohttpd), linked into it alone
MHD_LIBS := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)
SHAREDIR ?= $(PREFIX)/share/lmf
BOARD = $(wildcard share/board/*)
VERSION := $(shell cat VERSION)
override CFLAGS += -std=c11 -Wall -Wextra -Wno-unused-parameter -Iinclude \
	$(PKG_CFLAGS) -DLMF_VERSION='"$(VERSION)"' -D_GNU_SOURCE $(OMPFLAGS) \
	-fno-math-errno -fno-trapping-math
LDLIBS = $(PKG_LIBS) $(MPI_LIBS) $(DNNL_LIBS) -lm -lpthread $(OMPFLAGS) $(OMPBLAS:%=-Wl,-rpath,%)
ifdef DEBUG
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer
override CFLAGS += -O0 $(SANFLAGS)
LDFLAGS += $(SANFLAGS)
endif

LIBSRC = $(wildcard libcommon/*.c)
LIBOBJ = $(LIBSRC:.c=.o)
BIN = $(patsubst tools/%.c,%,$(wildcard tools/lmf-*.c))
SCRIPTS = $(wildcard scripts/lmf scripts/lmf-*)
MAN1 = $(wildcard man/*.1)
MAN5 = $(wildcard man/*.5)
MAN7 = $(wildcard man/*.7)
UNIT = $(patsubst tests/unit/%.c,tests/unit/%,$(wildcard tests/unit/*.c))
# the fuzz harnesses linked with tests/fuzz/replay.c instead of libFuzzer
# (t0190 replays the corpora with them; tests/fuzz/run.sh fuzzes)
REPLAY = $(patsubst tests/fuzz/%_fuzz.c,tests/fuzz/%_replay,$(wildcard tests/fuzz/*_fuzz.c))
HDR = $(wildcard include/lmf/*.h)

all: $(BIN) $(UNIT) $(REPLAY)

libcommon/%.o: libcommon/%.c $(HDR)
	$(CC) $(CFLAGS) -c -o $@ $<

libcommon/dist.o: libcommon/dist.c $(HDR) Makefile
	$(CC) $(CFLAGS) $(MPI_DEF) $(MPI_CFLAGS) -c -o $@ $<

libcommon/gemm.o: libcommon/gemm.c $(HDR) Makefile
	$(CC) $(CFLAGS) $(DNNL_DEF) -c -o $@ $<

tools/%.o: tools/%.c $(HDR)
	$(CC) $(CFLAGS) -c -o $@ $<

libcommon.a: $(LIBOBJ)
	rm -f $@
	ar rcs $@ $(LIBOBJ)

$(BIN): %: tools/%.o libcommon.a
	$(CC) $(LDFLAGS) -o $@ $< libcommon.a $(LDLIBS)

lmf-board: LDLIBS += $(MHD_LIBS)

$(UNIT): %: %.c libcommon.a $(HDR)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< libcommon.a $(LDLIBS)

# dev/'s benchmark programs, linked as the tools are (make dev/out/NAME)
dev/out/%: dev/%.c libcommon.a $(HDR)
	@mkdir -p dev/out
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< libcommon.a $(LDLIBS)

$(REPLAY): tests/fuzz/%_replay: tests/fuzz/%_fuzz.c tests/fuzz/replay.c \
    libcommon.a $(HDR)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ tests/fuzz/replay.c $< libcommon.a \
		$(LDLIBS)

deps:
	@sh scripts/install-deps

check: deps
	@$(MAKE) --no-print-directory all
	@mandoc -Tlint -Wwarning $(MAN1) $(MAN5) $(MAN7)
	LMF_SANFLAGS='$(SANFLAGS)' prove -j2 tests/t*.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/demo

bench: all
	@sh scripts/install-deps time util-linux
	@sh dev/bench.sh

fuzz:
	@sh scripts/install-deps clang libclang-rt-14-dev
	@sh tests/fuzz/run.sh $(FUZZTIME)

# what tests/fuzz/run.sh compiles and links with: the same packages as here
# (it links every libcommon object, lmf-board's server too)
fuzz-flags:
	@echo '$(PKG_CFLAGS)'
	@echo '$(PKG_LIBS) $(DNNL_LIBS) $(MHD_LIBS)'

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7
	$(if $(BIN),install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/)
	$(if $(SCRIPTS),install -m 755 $(SCRIPTS) $(DESTDIR)$(BINDIR)/)
	$(if $(MAN1),install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/)
	$(if $(MAN5),install -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/)
	$(if $(MAN7),install -m 644 $(MAN7) $(DESTDIR)$(MANDIR)/man7/)
	mkdir -p $(DESTDIR)$(SHAREDIR)/board
	$(if $(BOARD),install -m 644 $(BOARD) $(DESTDIR)$(SHAREDIR)/board/)

README.md: man/lmf.7
	sh scripts/mkreadme > $@

clean:
	rm -f $(BIN) $(UNIT) $(REPLAY) libcommon.a libcommon/*.o tools/*.o
	rm -rf tests/scratch tests/fuzz/build dev/out demo-out

.PHONY: all check demo bench fuzz fuzz-flags install clean deps
.SUFFIXES:
