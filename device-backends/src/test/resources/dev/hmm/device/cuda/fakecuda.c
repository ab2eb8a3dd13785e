/*
 * fakecuda.c: a test double for the NVIDIA CUDA driver API (libcuda.so.1) on machines without a GPU.
 *
 * The tests of the CUDA device backend load this library through FFM instead of the real libcuda, so that FFM
 * argument marshalling, context handling, leak-free close and the byte-for-byte movement of pages are tested end to
 * end on any CI machine. It exports the driver entry points the backend binds, under their real symbol names, and is
 * strict where the real driver is: same error codes, a current context needed per thread, device memory that is not
 * zeroed, bounds-checked copies, sticky asynchronous faults. "Device" memory is ordinary host memory (one address
 * space, as with UVA); the only kernel, hmm_copy_pages, runs on the CPU when its stream is synchronized (or the
 * stream destroyed, the context synchronized, memory freed): as on a GPU, nothing it writes is there before the
 * synchronize, and the index buffers it reads must stay untouched until then.
 *
 * Environment (read by cuInit): FAKECUDA_DEVICES (default 1, at most 8; 0: cuInit fails with CUDA_ERROR_NO_DEVICE)
 * and FAKECUDA_MEM_BYTES (device memory per device, default 1 GiB). The fakecuda_* functions are test hooks.
 *
 *   cc -shared -fPIC -O2 -std=c11 -Wall -Werror -o libfakecuda.so fakecuda.c -lpthread
 * Add -DFAKECUDA_CHECK_CUDA_H -I/usr/local/cuda/include to check every prototype against the real cuda.h.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef FAKECUDA_CHECK_CUDA_H
#include <cuda.h> /* its declarations must match the definitions below; it maps plain names to the _v2 ones */
#if defined(CUDA_API_PER_THREAD_DEFAULT_STREAM)
#error "check without CUDA_API_PER_THREAD_DEFAULT_STREAM: it renames cuStreamSynchronize and cuLaunchKernel"
#endif
#else
typedef enum cudaError_enum {
    CUDA_SUCCESS = 0, CUDA_ERROR_INVALID_VALUE = 1, CUDA_ERROR_OUT_OF_MEMORY = 2, CUDA_ERROR_NOT_INITIALIZED = 3,
    CUDA_ERROR_NO_DEVICE = 100, CUDA_ERROR_INVALID_DEVICE = 101, CUDA_ERROR_INVALID_CONTEXT = 201,
    CUDA_ERROR_INVALID_PTX = 218, CUDA_ERROR_INVALID_HANDLE = 400, CUDA_ERROR_NOT_FOUND = 500,
    CUDA_ERROR_ILLEGAL_ADDRESS = 700, CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED = 712,
    CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED = 713, CUDA_ERROR_MISALIGNED_ADDRESS = 716
} CUresult;
typedef enum CUdevice_attribute_enum {
    CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16, CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY = 19,
    CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING = 41, CU_DEVICE_ATTRIBUTE_MAX = 148
} CUdevice_attribute;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
#define CU_STREAM_LEGACY ((CUstream) 0x1)
#define CU_STREAM_PER_THREAD ((CUstream) 0x2)
#define CU_STREAM_NON_BLOCKING 0x1
#define CU_MEMHOSTREGISTER_READ_ONLY 0x08
#endif

#define MAX_DEVICES 8
#define KERNEL_NAME "hmm_copy_pages"

/* Memory the fake knows: cuMemAlloc (device), cuMemAllocHost (pinned host), cuMemHostRegister (registered host). */
enum kind { DEVICE_MEM, HOST_ALLOC, HOST_REG };
struct region {
    struct region *next;
    enum kind kind;
    uintptr_t base;
    size_t size;
    unsigned flags; /* cuMemHostRegister flags */
    int dev;        /* DEVICE_MEM: the device whose memory it uses */
};
/* A launched kernel not yet run: its arguments, read at launch as the driver does; the index buffers it points at are
 * read when it runs. */
struct launch {
    struct launch *next;
    uintptr_t src, dst, srcIdx, dstIdx;
    int pageBytes, chunkBytes;
    unsigned gridX, gridY;
};
struct CUstream_st { struct CUstream_st *next; struct CUctx_st *ctx; CUresult pending; struct launch *head, *tail; };
struct CUfunc_st { struct CUmod_st *module; };
struct CUmod_st { struct CUmod_st *next; struct CUctx_st *ctx; struct CUfunc_st fn; };
struct CUctx_st {                 /* the primary context of one device */
    int dev, retain;
    CUresult sticky;              /* a fault that made the context unusable until it is destroyed */
    size_t used;                  /* device bytes allocated */
    struct CUstream_st null_stream; /* the default stream (NULL, CU_STREAM_LEGACY, CU_STREAM_PER_THREAD) */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* guards everything below but `current` */
static int initialized, ndevices;
static size_t mem_bytes;
static struct CUctx_st ctxs[MAX_DEVICES];
static struct region *regions;
static struct CUstream_st *streams;
static struct CUmod_st *modules;
static int launches, fail_count;
static CUresult fail_code;
static _Thread_local struct CUctx_st *current; /* set by cuCtxSetCurrent, per thread as in the driver */

static CUresult unlock_with(CUresult r) {
    pthread_mutex_unlock(&lock);
    return r;
}

static CUresult copy_pages(uintptr_t src, uintptr_t dst, uintptr_t srcIdx, uintptr_t dstIdx, int pageBytes,
                           int chunkBytes, unsigned gridX, unsigned gridY);

/* With the lock held: runs the kernels queued on `s`, in order; a fault makes its context's sticky error. */
static void run_stream(struct CUstream_st *s) {
    struct launch *l = s->head;
    s->head = s->tail = NULL;
    while (l != NULL) {
        struct launch *next = l->next;
        if (s->ctx->sticky == CUDA_SUCCESS) { /* a faulted context runs nothing more */
            CUresult fault = copy_pages(l->src, l->dst, l->srcIdx, l->dstIdx, l->pageBytes, l->chunkBytes, l->gridX,
                                        l->gridY);
            if (fault != CUDA_SUCCESS) s->ctx->sticky = fault;
        }
        free(l);
        l = next;
    }
}

/* With the lock held: runs every queued kernel of context `ctx` (an implicit device synchronization). */
static void run_context(struct CUctx_st *ctx) {
    run_stream(&ctx->null_stream);
    for (struct CUstream_st *s = streams; s != NULL; s = s->next) {
        if (s->ctx == ctx) run_stream(s);
    }
}

/* With the lock held: CUDA_SUCCESS if the calling thread has a usable current context, else what the call returns
 * (NOT_INITIALIZED, INVALID_CONTEXT, or the context's sticky fault). */
static CUresult ctx_state(void) {
    if (!initialized) return CUDA_ERROR_NOT_INITIALIZED;
    if (current == NULL || current->retain == 0) return CUDA_ERROR_INVALID_CONTEXT;
    return current->sticky;
}

/* Every entry point takes the lock first; these return early (unlocking) when the call cannot go on. */
#define ENTER_INITIALIZED() \
    pthread_mutex_lock(&lock); \
    if (!initialized) return unlock_with(CUDA_ERROR_NOT_INITIALIZED)
#define ENTER_CONTEXT(r) \
    pthread_mutex_lock(&lock); \
    CUresult r = ctx_state(); \
    if (r != CUDA_SUCCESS) return unlock_with(r)
/* Release calls still release in a context broken by a fault (destroying the context would), then report it. */
#define ENTER_RELEASE(r) \
    pthread_mutex_lock(&lock); \
    CUresult r = ctx_state(); \
    if (r == CUDA_ERROR_NOT_INITIALIZED || r == CUDA_ERROR_INVALID_CONTEXT) return unlock_with(r)

static int valid_device(CUdevice dev) { return dev >= 0 && dev < ndevices; }

static int contains(const struct region *g, uintptr_t p, uint64_t n) {
    return p >= g->base && p - g->base <= g->size && n <= g->size - (p - g->base);
}

/* The region of one of the kinds in `kinds` (a bit mask) holding all of [p, p + n), or NULL. */
static struct region *find_range(unsigned kinds, uintptr_t p, uint64_t n) {
    for (struct region *g = regions; g != NULL; g = g->next) {
        if ((kinds & (1u << g->kind)) && contains(g, p, n)) return g;
    }
    return NULL;
}

/* The link pointing at the region of kind `kind` starting at p, or NULL. */
static struct region **find_start(enum kind kind, uintptr_t p) {
    for (struct region **link = &regions; *link != NULL; link = &(*link)->next) {
        if ((*link)->kind == kind && (*link)->base == p) return link;
    }
    return NULL;
}

static CUresult add_region(enum kind kind, void *p, size_t size, unsigned flags, int dev) {
    struct region *g = malloc(sizeof *g);
    if (g == NULL) return CUDA_ERROR_OUT_OF_MEMORY;
    *g = (struct region) {regions, kind, (uintptr_t) p, size, flags, dev};
    regions = g;
    return CUDA_SUCCESS;
}

/* An allocation with at least `align` bytes of slack after it, so that an overrun never lands in the next one. */
static void *alloc_filled(size_t align, size_t bytes) {
    if (bytes > SIZE_MAX - 2 * align) return NULL;
    void *p = aligned_alloc(align, (bytes + 2 * align - 1) / align * align);
    if (p != NULL) memset(p, 0xA5, bytes); /* neither device nor pinned memory comes zeroed */
    return p;
}

/* ---- initialization, devices, errors ---- */

CUresult cuInit(unsigned int flags) {
    if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&lock);
    if (!initialized) {
        const char *d = getenv("FAKECUDA_DEVICES"), *m = getenv("FAKECUDA_MEM_BYTES");
        long n = d != NULL && *d != '\0' ? strtol(d, NULL, 10) : 1;
        unsigned long long bytes = m != NULL && *m != '\0' ? strtoull(m, NULL, 10) : 0;
        if (n <= 0) return unlock_with(CUDA_ERROR_NO_DEVICE);
        ndevices = n > MAX_DEVICES ? MAX_DEVICES : (int) n;
        mem_bytes = bytes > 0 && bytes <= SIZE_MAX ? (size_t) bytes : (size_t) 1 << 30;
        for (int i = 0; i < ndevices; i++) ctxs[i].dev = i;
        initialized = 1;
    }
    return unlock_with(CUDA_SUCCESS);
}

CUresult cuDriverGetVersion(int *version) {
    if (version == NULL) return CUDA_ERROR_INVALID_VALUE;
    *version = 13000;
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int *count) {
    ENTER_INITIALIZED();
    if (count == NULL) return unlock_with(CUDA_ERROR_INVALID_VALUE);
    *count = ndevices;
    return unlock_with(CUDA_SUCCESS);
}

CUresult cuDeviceGet(CUdevice *device, int ordinal) {
    ENTER_INITIALIZED();
    if (device == NULL) return unlock_with(CUDA_ERROR_INVALID_VALUE);
    if (!valid_device(ordinal)) return unlock_with(CUDA_ERROR_INVALID_DEVICE);
    *device = ordinal;
    return unlock_with(CUDA_SUCCESS);
}

CUresult cuDeviceGetName(char *name, int len, CUdevice dev) {
    ENTER_INITIALIZED();
    if (name == NULL || len <= 0) return unlock_with(CUDA_ERROR_INVALID_VALUE);
    if (!valid_device(dev)) return unlock_with(CUDA_ERROR_INVALID_DEVICE);
    snprintf(name, (size_t) len, "%s", "fakecuda");
    return unlock_with(CUDA_SUCCESS);
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev) {
    ENTER_INITIALIZED();
    if (bytes == NULL) return unlock_with(CUDA_ERROR_INVALID_VALUE);
    if (!valid_device(dev)) return unlock_with(CUDA_ERROR_INVALID_DEVICE);
    *bytes = mem_bytes;
    return unlock_with(CUDA_SUCCESS);
}

CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice dev) {
    ENTER_INITIALIZED();
    if (pi == NULL || (int) attrib <= 0 || (int) attrib >= (int) CU_DEVICE_ATTRIBUTE_MAX) {
        return unlock_with(CUDA_ERROR_INVALID_VALUE);
    }
    if (!valid_device(dev)) return unlock_with(CUDA_ERROR_INVALID_DEVICE);
    *pi = attrib == CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING || attrib == CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY ? 1
        : attrib == CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT ? 132 : 0;
    return unlock_with(CUDA_SUCCESS);
}

static const struct { int code; const char *name, *text; } errors[] = {
    {0, "CUDA_SUCCESS", "no error"},
    {1, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {3, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {4, "CUDA_ERROR_DEINITIALIZED", "driver shutting down"},
    {34, "CUDA_ERROR_STUB_LIBRARY", "CUDA driver is a stub library"},
    {100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {101, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {200, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {201, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {218, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {400, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {500, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {600, "CUDA_ERROR_NOT_READY", "device not ready"},
    {700, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"},
    {702, "CUDA_ERROR_LAUNCH_TIMEOUT", "the launch timed out and was terminated"},
    {709, "CUDA_ERROR_CONTEXT_IS_DESTROYED", "context is destroyed"},
    {712, "CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED", "part or all of the requested memory range is already mapped"},
    {713, "CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED", "pointer does not correspond to a registered memory region"},
    {716, "CUDA_ERROR_MISALIGNED_ADDRESS", "misaligned address"},
    {719, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {801, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
    {999, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

static CUresult describe(CUresult error, const char **out, int text) {
    if (out == NULL) return CUDA_ERROR_INVALID_VALUE;
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        if (errors[i].code == (int) error) {
            *out = text ? errors[i].text : errors[i].name;
            return CUDA_SUCCESS;
        }
    }
    *out = NULL;
    return CUDA_ERROR_INVALID_VALUE;
}

CUresult cuGetErrorName(CUresult error, const char **pStr) { return describe(error, pStr, 0); }
CUresult cuGetErrorString(CUresult error, const char **pStr) { return describe(error, pStr, 1); }

/* ---- primary contexts ---- */

CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev) {
    ENTER_INITIALIZED();
    if (pctx == NULL) return unlock_with(CUDA_ERROR_INVALID_VALUE);
    if (!valid_device(dev)) return unlock_with(CUDA_ERROR_INVALID_DEVICE);
    ctxs[dev].retain++;
    *pctx = &ctxs[dev];
    return unlock_with(CUDA_SUCCESS);
}

/* The last release destroys the context, which clears a sticky fault. Memory, streams and modules not freed by then
 * are kept and still counted by the hooks: they are the caller's leaks. */
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
    ENTER_INITIALIZED();
    if (!valid_device(dev)) return unlock_with(CUDA_ERROR_INVALID_DEVICE);
    if (ctxs[dev].retain == 0) return unlock_with(CUDA_ERROR_INVALID_CONTEXT);
    if (--ctxs[dev].retain == 0) {
        run_context(&ctxs[dev]);
        ctxs[dev].sticky = CUDA_SUCCESS;
        ctxs[dev].null_stream.pending = CUDA_SUCCESS;
    }
    return unlock_with(CUDA_SUCCESS);
}

CUresult cuCtxSetCurrent(CUcontext ctx) {
    ENTER_INITIALIZED();
    if (ctx != NULL) {
        int known = 0;
        for (int i = 0; i < ndevices; i++) known |= ctx == &ctxs[i] && ctxs[i].retain > 0;
        if (!known) return unlock_with(CUDA_ERROR_INVALID_CONTEXT);
    }
    current = ctx;
    return unlock_with(CUDA_SUCCESS);
}

CUresult cuCtxGetCurrent(CUcontext *pctx) {
    ENTER_INITIALIZED();
    if (pctx == NULL) return unlock_with(CUDA_ERROR_INVALID_VALUE);
    *pctx = current;
    return unlock_with(CUDA_SUCCESS);
}

/* Runs the context's queued kernels; returns a fault they made, else (and clears) the first pending launch error of
 * the context's streams. */
CUresult cuCtxSynchronize(void) {
    ENTER_CONTEXT(r);
    run_context(current);
    if (current->sticky != CUDA_SUCCESS) return unlock_with(current->sticky);
    CUresult first = current->null_stream.pending;
    current->null_stream.pending = CUDA_SUCCESS;
    for (struct CUstream_st *s = streams; s != NULL; s = s->next) {
        if (s->ctx != current) continue;
        if (first == CUDA_SUCCESS) first = s->pending;
        s->pending = CUDA_SUCCESS;
    }
    return unlock_with(first);
}

/* ---- streams ---- */

/* The stream `h` of the current context, the default stream for NULL/LEGACY/PER_THREAD; NULL if invalid. */
static struct CUstream_st *find_stream(CUstream h) {
    if (h == NULL || h == CU_STREAM_LEGACY || h == CU_STREAM_PER_THREAD) return &current->null_stream;
    for (struct CUstream_st *s = streams; s != NULL; s = s->next) {
        if (s == h && s->ctx == current) return s;
    }
    return NULL;
}

CUresult cuStreamCreate(CUstream *phStream, unsigned int flags) {
    ENTER_CONTEXT(r);
    if (phStream == NULL || (flags & ~(unsigned) CU_STREAM_NON_BLOCKING) != 0) {
        return unlock_with(CUDA_ERROR_INVALID_VALUE);
    }
    struct CUstream_st *s = malloc(sizeof *s);
    if (s == NULL) return unlock_with(CUDA_ERROR_OUT_OF_MEMORY);
    *s = (struct CUstream_st) {streams, current, CUDA_SUCCESS};
    streams = s;
    *phStream = s;
    return unlock_with(CUDA_SUCCESS);
}

CUresult cuStreamDestroy_v2(CUstream hStream) {
    ENTER_RELEASE(r);
    for (struct CUstream_st **link = &streams; *link != NULL; link = &(*link)->next) {
        if (*link == hStream && hStream->ctx == current) {
            run_stream(hStream); /* the driver lets queued work finish */
            *link = hStream->next;
            free(hStream);
            return unlock_with(r);
        }
    }
    return unlock_with(r != CUDA_SUCCESS ? r : CUDA_ERROR_INVALID_HANDLE);
}

/* Runs the stream's queued kernels, then returns its error: a fault stays (sticky), an injected launch failure is
 * cleared. */
CUresult cuStreamSynchronize(CUstream hStream) {
    ENTER_CONTEXT(r);
    struct CUstream_st *s = find_stream(hStream);
    if (s == NULL) return unlock_with(CUDA_ERROR_INVALID_HANDLE);
    run_stream(s);
    if (current->sticky != CUDA_SUCCESS) return unlock_with(current->sticky);
    r = s->pending;
    s->pending = CUDA_SUCCESS;
    return unlock_with(r);
}

/* ---- memory ---- */

CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize) {
    ENTER_CONTEXT(r);
    if (dptr == NULL || bytesize == 0) return unlock_with(CUDA_ERROR_INVALID_VALUE);
    if (bytesize > mem_bytes - current->used) return unlock_with(CUDA_ERROR_OUT_OF_MEMORY);
    void *p = alloc_filled(256, bytesize);
    if (p == NULL || add_region(DEVICE_MEM, p, bytesize, 0, current->dev) != CUDA_SUCCESS) {
        free(p);
        return unlock_with(CUDA_ERROR_OUT_OF_MEMORY);
    }
    current->used += bytesize;
    *dptr = (CUdeviceptr) (uintptr_t) p;
    return unlock_with(CUDA_SUCCESS);
}

CUresult cuMemFree_v2(CUdeviceptr dptr) {
    ENTER_RELEASE(r);
    run_context(current); /* cuMemFree waits for the work that may use the memory */
    struct region **link = find_start(DEVICE_MEM, (uintptr_t) dptr), *g = link != NULL ? *link : NULL;
    if (g == NULL) return unlock_with(r != CUDA_SUCCESS ? r : CUDA_ERROR_INVALID_VALUE);
    ctxs[g->dev].used -= g->size;
    *link = g->next;
    free((void *) g->base);
    free(g);
    return unlock_with(r);
}

CUresult cuMemAllocHost_v2(void **pp, size_t bytesize) {
    ENTER_CONTEXT(r);
    if (pp == NULL || bytesize == 0) return unlock_with(CUDA_ERROR_INVALID_VALUE);
    void *p = alloc_filled(4096, bytesize);
    if (p == NULL || add_region(HOST_ALLOC, p, bytesize, 0, current->dev) != CUDA_SUCCESS) {
        free(p);
        return unlock_with(CUDA_ERROR_OUT_OF_MEMORY);
    }
    *pp = p;
    return unlock_with(CUDA_SUCCESS);
}

CUresult cuMemFreeHost(void *p) {
    ENTER_RELEASE(r);
    run_context(current);
    struct region **link = find_start(HOST_ALLOC, (uintptr_t) p), *g = link != NULL ? *link : NULL;
    if (g == NULL) return unlock_with(r != CUDA_SUCCESS ? r : CUDA_ERROR_INVALID_VALUE);
    *link = g->next;
    free(p);
    free(g);
    return unlock_with(r);
}

CUresult cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int flags) {
    ENTER_CONTEXT(r);
    uintptr_t a = (uintptr_t) p;
    if (p == NULL || bytesize == 0 || bytesize > UINTPTR_MAX - a || (flags & ~0xFu) != 0) {
        return unlock_with(CUDA_ERROR_INVALID_VALUE);
    }
    for (struct region *g = regions; g != NULL; g = g->next) {
        if (a < g->base + g->size && g->base < a + bytesize) { /* overlap */
            return unlock_with(g->kind == DEVICE_MEM ? CUDA_ERROR_INVALID_VALUE
                                                     : CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED);
        }
    }
    return unlock_with(add_region(HOST_REG, p, bytesize, flags, current->dev));
}

CUresult cuMemHostUnregister(void *p) {
    ENTER_RELEASE(r);
    run_context(current);
    struct region **link = find_start(HOST_REG, (uintptr_t) p), *g = link != NULL ? *link : NULL;
    if (g == NULL) return unlock_with(r != CUDA_SUCCESS ? r : CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED);
    *link = g->next;
    free(g);
    return unlock_with(r);
}

CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr *pdptr, void *p, unsigned int flags) {
    ENTER_CONTEXT(r);
    if (pdptr == NULL || p == NULL || flags != 0) return unlock_with(CUDA_ERROR_INVALID_VALUE);
    if (find_range(1u << HOST_ALLOC | 1u << HOST_REG, (uintptr_t) p, 1) == NULL) {
        return unlock_with(CUDA_ERROR_INVALID_VALUE);
    }
    *pdptr = (CUdeviceptr) (uintptr_t) p; /* UVA: the host address is the device address */
    return unlock_with(CUDA_SUCCESS);
}

CUresult cuMemGetInfo_v2(size_t *free_bytes, size_t *total) {
    ENTER_CONTEXT(r);
    if (free_bytes == NULL || total == NULL) return unlock_with(CUDA_ERROR_INVALID_VALUE);
    *free_bytes = mem_bytes - current->used;
    *total = mem_bytes;
    return unlock_with(CUDA_SUCCESS);
}

/* The checks of the synchronous copies and memset: [dptr, dptr + n) inside one cuMemAlloc allocation. */
static CUresult device_range(CUdeviceptr dptr, size_t n) {
    CUresult r = ctx_state();
    if (r != CUDA_SUCCESS) return r;
    return find_range(1u << DEVICE_MEM, (uintptr_t) dptr, n) != NULL ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount) {
    pthread_mutex_lock(&lock);
    CUresult r = device_range(dstDevice, ByteCount);
    if (r == CUDA_SUCCESS && srcHost == NULL && ByteCount > 0) r = CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS && ByteCount > 0) memcpy((void *) (uintptr_t) dstDevice, srcHost, ByteCount);
    return unlock_with(r);
}

CUresult cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount) {
    pthread_mutex_lock(&lock);
    CUresult r = device_range(srcDevice, ByteCount);
    if (r == CUDA_SUCCESS && dstHost == NULL && ByteCount > 0) r = CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS && ByteCount > 0) memcpy(dstHost, (const void *) (uintptr_t) srcDevice, ByteCount);
    return unlock_with(r);
}

CUresult cuMemsetD8_v2(CUdeviceptr dstDevice, unsigned char uc, size_t N) {
    pthread_mutex_lock(&lock);
    CUresult r = device_range(dstDevice, N);
    if (r == CUDA_SUCCESS && N > 0) memset((void *) (uintptr_t) dstDevice, uc, N);
    return unlock_with(r);
}

/* ---- modules and the kernel ---- */

/* Whether the PTX text declares `.entry hmm_copy_pages` (the whole name, whitespace between). */
static int declares_kernel(const char *ptx) {
    for (const char *e = strstr(ptx, ".entry"); e != NULL; e = strstr(e + 1, ".entry")) {
        const char *n = e + 6;
        if (*n != ' ' && *n != '\t') continue;
        while (*n == ' ' || *n == '\t') n++;
        char after = n[strlen(KERNEL_NAME)];
        if (strncmp(n, KERNEL_NAME, strlen(KERNEL_NAME)) == 0 && after != '_' && after != '$'
                && !(after >= '0' && after <= '9') && !((after | 0x20) >= 'a' && (after | 0x20) <= 'z')) {
            return 1;
        }
    }
    return 0;
}

static struct CUmod_st **find_module(CUmodule hmod) {
    for (struct CUmod_st **link = &modules; *link != NULL; link = &(*link)->next) {
        if (*link == hmod && hmod->ctx == current) return link;
    }
    return NULL;
}

CUresult cuModuleLoadData(CUmodule *module, const void *image) {
    ENTER_CONTEXT(r);
    if (module == NULL || image == NULL) return unlock_with(CUDA_ERROR_INVALID_VALUE);
    if (!declares_kernel(image)) return unlock_with(CUDA_ERROR_INVALID_PTX);
    struct CUmod_st *m = malloc(sizeof *m);
    if (m == NULL) return unlock_with(CUDA_ERROR_OUT_OF_MEMORY);
    *m = (struct CUmod_st) {modules, current, {m}};
    modules = m;
    *module = m;
    return unlock_with(CUDA_SUCCESS);
}

CUresult cuModuleUnload(CUmodule hmod) {
    ENTER_RELEASE(r);
    struct CUmod_st **link = find_module(hmod);
    if (link == NULL) return unlock_with(r != CUDA_SUCCESS ? r : CUDA_ERROR_INVALID_HANDLE);
    *link = hmod->next;
    free(hmod);
    return unlock_with(r);
}

CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name) {
    ENTER_CONTEXT(r);
    if (hfunc == NULL || name == NULL) return unlock_with(CUDA_ERROR_INVALID_VALUE);
    if (find_module(hmod) == NULL) return unlock_with(CUDA_ERROR_INVALID_HANDLE);
    if (strcmp(name, KERNEL_NAME) != 0) return unlock_with(CUDA_ERROR_NOT_FOUND);
    *hfunc = &hmod->fn;
    return unlock_with(CUDA_SUCCESS);
}

/* Whether the kernel may read (or write) [p, p + n): device memory, pinned host memory or registered host memory
 * (a write not into a CU_MEMHOSTREGISTER_READ_ONLY registration). */
static int accessible(uintptr_t p, uint64_t n, int write) {
    struct region *g = find_range(1u << DEVICE_MEM | 1u << HOST_ALLOC | 1u << HOST_REG, p, n);
    return g != NULL && !(write && g->kind == HOST_REG && (g->flags & CU_MEMHOSTREGISTER_READ_ONLY));
}

/* hmm_copy_pages on the CPU, grid (chunks, pages): CUDA_SUCCESS, or the fault that stops it (an out-of-bounds
 * access; a misaligned one, as the kernel moves 4-byte indices and 16-byte words). */
static CUresult copy_pages(uintptr_t src, uintptr_t dst, uintptr_t srcIdx, uintptr_t dstIdx, int pageBytes,
                           int chunkBytes, unsigned chunks, unsigned pages) {
    if (srcIdx % 4 != 0 || dstIdx % 4 != 0) return CUDA_ERROR_MISALIGNED_ADDRESS;
    if (!accessible(srcIdx, 4ull * pages, 0) || !accessible(dstIdx, 4ull * pages, 0)) {
        return CUDA_ERROR_ILLEGAL_ADDRESS;
    }
    for (unsigned p = 0; p < pages; p++) {
        int s = ((const int *) srcIdx)[p], d = ((const int *) dstIdx)[p];
        for (unsigned c = 0; c < chunks; c++) {
            long long off = (long long) c * chunkBytes;
            uintptr_t to = dst + (uintptr_t) ((long long) d * pageBytes + off);
            uintptr_t from = src + (uintptr_t) ((long long) s * pageBytes + off);
            if (to % 16 != 0 || (s >= 0 && from % 16 != 0)) return CUDA_ERROR_MISALIGNED_ADDRESS;
            if (!accessible(to, (uint64_t) chunkBytes, 1)) return CUDA_ERROR_ILLEGAL_ADDRESS;
            if (s < 0) {
                memset((void *) to, 0, (size_t) chunkBytes);
            } else if (!accessible(from, (uint64_t) chunkBytes, 0)) {
                return CUDA_ERROR_ILLEGAL_ADDRESS;
            } else {
                memmove((void *) to, (const void *) from, (size_t) chunkBytes);
            }
        }
    }
    return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
                        unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
                        unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra) {
    ENTER_CONTEXT(r);
    struct CUmod_st *module = NULL;
    for (struct CUmod_st *m = modules; m != NULL; m = m->next) {
        if (&m->fn == f && m->ctx == current) module = m;
    }
    struct CUstream_st *stream = find_stream(hStream);
    if (module == NULL || stream == NULL) return unlock_with(CUDA_ERROR_INVALID_HANDLE);
    if (kernelParams == NULL || extra != NULL) return unlock_with(CUDA_ERROR_INVALID_VALUE);
    for (int i = 0; i < 6; i++) {
        if (kernelParams[i] == NULL) return unlock_with(CUDA_ERROR_INVALID_VALUE);
    }
    CUdeviceptr src, dst, srcIdx, dstIdx;
    int pageBytes, chunkBytes;
    memcpy(&src, kernelParams[0], sizeof src);
    memcpy(&dst, kernelParams[1], sizeof dst);
    memcpy(&srcIdx, kernelParams[2], sizeof srcIdx);
    memcpy(&dstIdx, kernelParams[3], sizeof dstIdx);
    memcpy(&pageBytes, kernelParams[4], sizeof pageBytes);
    memcpy(&chunkBytes, kernelParams[5], sizeof chunkBytes);
    if (gridDimZ != 1 || blockDimY != 1 || blockDimZ != 1 || blockDimX < 1 || blockDimX > 1024
            || gridDimY < 1 || gridDimY > 65535 || sharedMemBytes > 48 * 1024
            || chunkBytes <= 0 || chunkBytes % 16 != 0 || pageBytes <= 0 || pageBytes % chunkBytes != 0
            || gridDimX != (unsigned) (pageBytes / chunkBytes)) {
        return unlock_with(CUDA_ERROR_INVALID_VALUE);
    }
    if (fail_count > 0) { /* injected: runs nothing, fails at the next synchronization */
        fail_count--;
        if (stream->pending == CUDA_SUCCESS) stream->pending = fail_code;
        return unlock_with(CUDA_SUCCESS);
    }
    struct launch *l = malloc(sizeof *l);
    if (l == NULL) return unlock_with(CUDA_ERROR_OUT_OF_MEMORY);
    *l = (struct launch) {NULL, (uintptr_t) src, (uintptr_t) dst, (uintptr_t) srcIdx, (uintptr_t) dstIdx, pageBytes,
                          chunkBytes, gridDimX, gridDimY};
    if (stream->tail != NULL) stream->tail->next = l; else stream->head = l;
    stream->tail = l;
    launches++;
    /* runs at the stream's synchronize; a fault then becomes the context's sticky error */
    return unlock_with(CUDA_SUCCESS);
}

/* ---- test hooks ---- */

static long long unlocked(long long n) {
    pthread_mutex_unlock(&lock);
    return n;
}

static long long tally(enum kind kind, int bytes) { /* with the lock held */
    long long n = 0;
    for (struct region *g = regions; g != NULL; g = g->next) {
        if (g->kind == kind) n += bytes ? (long long) g->size : 1;
    }
    return n;
}

int fakecuda_launches(void) { pthread_mutex_lock(&lock); return (int) unlocked(launches); }
long long fakecuda_live_device_bytes(void) { pthread_mutex_lock(&lock); return unlocked(tally(DEVICE_MEM, 1)); }
int fakecuda_live_host_allocations(void) { pthread_mutex_lock(&lock); return (int) unlocked(tally(HOST_ALLOC, 0)); }
int fakecuda_registered_ranges(void) { pthread_mutex_lock(&lock); return (int) unlocked(tally(HOST_REG, 0)); }

int fakecuda_live_streams(void) {
    pthread_mutex_lock(&lock);
    int n = 0;
    for (struct CUstream_st *s = streams; s != NULL; s = s->next) n++;
    return (int) unlocked(n);
}

int fakecuda_retained_contexts(void) { /* summed over the devices */
    pthread_mutex_lock(&lock);
    int n = 0;
    for (int i = 0; i < MAX_DEVICES; i++) n += ctxs[i].retain;
    return (int) unlocked(n);
}

/* The next `count` launches that pass the launch checks run nothing (and are not counted by fakecuda_launches); the
 * next cuStreamSynchronize of their stream (or cuCtxSynchronize) returns `code` once. */
void fakecuda_fail_next_launches(int count, int code) {
    pthread_mutex_lock(&lock);
    fail_count = count > 0 ? count : 0;
    fail_code = (CUresult) code;
    pthread_mutex_unlock(&lock);
}
