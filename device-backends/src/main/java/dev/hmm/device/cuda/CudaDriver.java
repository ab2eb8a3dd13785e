package dev.hmm.device.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

/**
 * The part of the CUDA driver API ({@code libcuda.so.1}, {@code cuda.h}) the backend calls, bound through FFM
 * downcalls. Only the driver API: it ships with the kernel driver, so no CUDA toolkit is needed at run time, and its
 * {@code cuLaunchKernel} runs the PTX kernel bundled with this module. Names are the exported symbols, i.e. the
 * {@code _v2} entry points {@code cuda.h} maps the plain names to.
 *
 * <p>Every wrapper returns the {@code CUresult}; {@link #check} turns a non-zero one into a {@link CudaException}
 * naming the call. Types: {@code CUdevice} and {@code CUresult} are {@code int}, {@code CUdeviceptr} and
 * {@code size_t} are {@code long}, handles ({@code CUcontext}, {@code CUstream}, ...) are addresses.
 */
final class CudaDriver {
    static final int CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY = 19;
    static final int CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING = 41;
    static final int CU_MEMHOSTREGISTER_PORTABLE = 0x01;
    static final int CU_MEMHOSTREGISTER_DEVICEMAP = 0x02;
    static final int CU_STREAM_NON_BLOCKING = 0x01;
    static final int CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED = 712;

    /** Where the library came from, for messages. */
    final String library;
    private final MethodHandle cuInit;
    private final MethodHandle cuDriverGetVersion;
    private final MethodHandle cuDeviceGetCount;
    private final MethodHandle cuDeviceGet;
    private final MethodHandle cuDeviceGetName;
    private final MethodHandle cuDeviceTotalMem;
    private final MethodHandle cuDeviceGetAttribute;
    private final MethodHandle cuDevicePrimaryCtxRetain;
    private final MethodHandle cuDevicePrimaryCtxRelease;
    private final MethodHandle cuCtxSetCurrent;
    private final MethodHandle cuStreamCreate;
    private final MethodHandle cuStreamDestroy;
    private final MethodHandle cuStreamSynchronize;
    private final MethodHandle cuMemAlloc;
    private final MethodHandle cuMemFree;
    private final MethodHandle cuMemAllocHost;
    private final MethodHandle cuMemFreeHost;
    private final MethodHandle cuMemHostRegister;
    private final MethodHandle cuMemHostUnregister;
    private final MethodHandle cuMemHostGetDevicePointer;
    private final MethodHandle cuMemcpyHtoD;
    private final MethodHandle cuMemcpyDtoH;
    private final MethodHandle cuMemsetD8;
    private final MethodHandle cuModuleLoadData;
    private final MethodHandle cuModuleUnload;
    private final MethodHandle cuModuleGetFunction;
    private final MethodHandle cuLaunchKernel;
    private final MethodHandle cuGetErrorName;
    private final MethodHandle cuGetErrorString;

    /**
     * Binds the driver API of {@code library}: a file name found on the loader path ({@code libcuda.so.1}) or a path.
     *
     * @throws CudaException if the library cannot be loaded or lacks a symbol (no NVIDIA driver, a wrong file)
     */
    CudaDriver(String library) {
        this.library = library;
        SymbolLookup lib;
        try {
            lib = library.indexOf('/') >= 0 ? SymbolLookup.libraryLookup(Path.of(library), Arena.global())
                    : SymbolLookup.libraryLookup(library, Arena.global());
        } catch (IllegalArgumentException e) {
            throw new CudaException("the CUDA driver library " + library + " cannot be loaded (" + e.getMessage()
                    + "): no NVIDIA driver on this machine?");
        }
        Linker linker = Linker.nativeLinker();
        Binder b = new Binder(lib, linker);
        cuInit = b.bind("cuInit", JAVA_INT);
        cuDriverGetVersion = b.bind("cuDriverGetVersion", ADDRESS);
        cuDeviceGetCount = b.bind("cuDeviceGetCount", ADDRESS);
        cuDeviceGet = b.bind("cuDeviceGet", ADDRESS, JAVA_INT);
        cuDeviceGetName = b.bind("cuDeviceGetName", ADDRESS, JAVA_INT, JAVA_INT);
        cuDeviceTotalMem = b.bind("cuDeviceTotalMem_v2", ADDRESS, JAVA_INT);
        cuDeviceGetAttribute = b.bind("cuDeviceGetAttribute", ADDRESS, JAVA_INT, JAVA_INT);
        cuDevicePrimaryCtxRetain = b.bind("cuDevicePrimaryCtxRetain", ADDRESS, JAVA_INT);
        cuDevicePrimaryCtxRelease = b.bind("cuDevicePrimaryCtxRelease_v2", JAVA_INT);
        cuCtxSetCurrent = b.bind("cuCtxSetCurrent", ADDRESS);
        cuStreamCreate = b.bind("cuStreamCreate", ADDRESS, JAVA_INT);
        cuStreamDestroy = b.bind("cuStreamDestroy_v2", ADDRESS);
        cuStreamSynchronize = b.bind("cuStreamSynchronize", ADDRESS);
        cuMemAlloc = b.bind("cuMemAlloc_v2", ADDRESS, JAVA_LONG);
        cuMemFree = b.bind("cuMemFree_v2", JAVA_LONG);
        cuMemAllocHost = b.bind("cuMemAllocHost_v2", ADDRESS, JAVA_LONG);
        cuMemFreeHost = b.bind("cuMemFreeHost", ADDRESS);
        cuMemHostRegister = b.bind("cuMemHostRegister_v2", ADDRESS, JAVA_LONG, JAVA_INT);
        cuMemHostUnregister = b.bind("cuMemHostUnregister", ADDRESS);
        cuMemHostGetDevicePointer = b.bind("cuMemHostGetDevicePointer_v2", ADDRESS, ADDRESS, JAVA_INT);
        cuMemcpyHtoD = b.bind("cuMemcpyHtoD_v2", JAVA_LONG, ADDRESS, JAVA_LONG);
        cuMemcpyDtoH = b.bind("cuMemcpyDtoH_v2", ADDRESS, JAVA_LONG, JAVA_LONG);
        cuMemsetD8 = b.bind("cuMemsetD8_v2", JAVA_LONG, JAVA_BYTE, JAVA_LONG);
        cuModuleLoadData = b.bind("cuModuleLoadData", ADDRESS, ADDRESS);
        cuModuleUnload = b.bind("cuModuleUnload", ADDRESS);
        cuModuleGetFunction = b.bind("cuModuleGetFunction", ADDRESS, ADDRESS, ADDRESS);
        cuLaunchKernel = b.bind("cuLaunchKernel", ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
        cuGetErrorName = b.bind("cuGetErrorName", JAVA_INT, ADDRESS);
        cuGetErrorString = b.bind("cuGetErrorString", JAVA_INT, ADDRESS);
    }

    private record Binder(SymbolLookup lib, Linker linker) {
        MethodHandle bind(String name, java.lang.foreign.MemoryLayout... args) {
            MemorySegment fn = lib.find(name).orElseThrow(() -> new CudaException("the CUDA driver library lacks "
                    + name + ": not a CUDA driver, or one older than CUDA 11"));
            return linker.downcallHandle(fn, FunctionDescriptor.of(JAVA_INT, args));
        }
    }

    /** Throws a {@link CudaException} naming {@code call} and the driver's name and text for {@code rc}, unless 0. */
    void check(int rc, String call) {
        if (rc != 0) {
            throw new CudaException(rc, errorName(rc), call + ": " + errorName(rc) + " (" + rc + "): "
                    + errorString(rc));
        }
    }

    String errorName(int rc) {
        return errorText(cuGetErrorName, rc);
    }

    String errorString(int rc) {
        return errorText(cuGetErrorString, rc);
    }

    private static String errorText(MethodHandle h, int rc) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            int r = (int) h.invokeExact(rc, out);
            MemorySegment s = out.get(ADDRESS, 0);
            return r != 0 || s.equals(MemorySegment.NULL) ? "CUresult " + rc : s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "CUresult " + rc;
        }
    }

    // Each wrapper rethrows what a downcall cannot throw but invokeExact declares.

    int init(int flags) {
        try {
            return (int) cuInit.invokeExact(flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int driverGetVersion(MemorySegment version) {
        try {
            return (int) cuDriverGetVersion.invokeExact(version);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int deviceGetCount(MemorySegment count) {
        try {
            return (int) cuDeviceGetCount.invokeExact(count);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int deviceGet(MemorySegment device, int ordinal) {
        try {
            return (int) cuDeviceGet.invokeExact(device, ordinal);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int deviceGetName(MemorySegment name, int len, int device) {
        try {
            return (int) cuDeviceGetName.invokeExact(name, len, device);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int deviceTotalMem(MemorySegment bytes, int device) {
        try {
            return (int) cuDeviceTotalMem.invokeExact(bytes, device);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int deviceGetAttribute(MemorySegment value, int attribute, int device) {
        try {
            return (int) cuDeviceGetAttribute.invokeExact(value, attribute, device);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int primaryCtxRetain(MemorySegment ctx, int device) {
        try {
            return (int) cuDevicePrimaryCtxRetain.invokeExact(ctx, device);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int primaryCtxRelease(int device) {
        try {
            return (int) cuDevicePrimaryCtxRelease.invokeExact(device);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int ctxSetCurrent(MemorySegment ctx) {
        try {
            return (int) cuCtxSetCurrent.invokeExact(ctx);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int streamCreate(MemorySegment stream, int flags) {
        try {
            return (int) cuStreamCreate.invokeExact(stream, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int streamDestroy(MemorySegment stream) {
        try {
            return (int) cuStreamDestroy.invokeExact(stream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int streamSynchronize(MemorySegment stream) {
        try {
            return (int) cuStreamSynchronize.invokeExact(stream);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int memAlloc(MemorySegment dptr, long bytes) {
        try {
            return (int) cuMemAlloc.invokeExact(dptr, bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int memFree(long dptr) {
        try {
            return (int) cuMemFree.invokeExact(dptr);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int memAllocHost(MemorySegment pp, long bytes) {
        try {
            return (int) cuMemAllocHost.invokeExact(pp, bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int memFreeHost(MemorySegment p) {
        try {
            return (int) cuMemFreeHost.invokeExact(p);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int memHostRegister(MemorySegment p, long bytes, int flags) {
        try {
            return (int) cuMemHostRegister.invokeExact(p, bytes, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int memHostUnregister(MemorySegment p) {
        try {
            return (int) cuMemHostUnregister.invokeExact(p);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int memHostGetDevicePointer(MemorySegment dptr, MemorySegment p, int flags) {
        try {
            return (int) cuMemHostGetDevicePointer.invokeExact(dptr, p, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int memcpyHtoD(long dst, MemorySegment src, long bytes) {
        try {
            return (int) cuMemcpyHtoD.invokeExact(dst, src, bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int memcpyDtoH(MemorySegment dst, long src, long bytes) {
        try {
            return (int) cuMemcpyDtoH.invokeExact(dst, src, bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int memsetD8(long dst, byte value, long bytes) {
        try {
            return (int) cuMemsetD8.invokeExact(dst, value, bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int moduleLoadData(MemorySegment module, MemorySegment image) {
        try {
            return (int) cuModuleLoadData.invokeExact(module, image);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int moduleUnload(MemorySegment module) {
        try {
            return (int) cuModuleUnload.invokeExact(module);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int moduleGetFunction(MemorySegment function, MemorySegment module, MemorySegment name) {
        try {
            return (int) cuModuleGetFunction.invokeExact(function, module, name);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    int launchKernel(MemorySegment f, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ,
            int sharedBytes, MemorySegment stream, MemorySegment params, MemorySegment extra) {
        try {
            return (int) cuLaunchKernel.invokeExact(f, gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes, stream,
                    params, extra);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException("CUDA downcall failed", t);
    }
}
