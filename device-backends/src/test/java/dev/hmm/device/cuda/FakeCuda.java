package dev.hmm.device.cuda;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The driver library the CUDA tests run against: the installed {@code libcuda.so.1} where this machine has a GPU
 * (every test then runs on the real GPU), else a fake of the driver API ({@code fakecuda.c}, compiled here with the
 * system C compiler), which is strict where the real driver is (contexts, registered host memory, kernel grid limits,
 * illegal addresses) and counts what is live, so that tests can check a close frees everything. Without a GPU and
 * without a C compiler, the tests are skipped.
 *
 * <p>{@code -Dhmm.cuda.library=PATH} forces a library.
 */
public final class FakeCuda {
    private static final Object LOCK = new Object();
    private static Optional<String> chosen;
    private static boolean isFake;
    private static Hooks hooks;

    private FakeCuda() {
    }

    /** The library to test with, or empty when there is neither a GPU nor a C compiler. */
    public static Optional<String> library() {
        synchronized (LOCK) {
            if (chosen == null) {
                chosen = choose();
            }
            return chosen;
        }
    }

    /** Whether {@link #library()} is the fake (its test hooks exist). */
    public static boolean isFake() {
        library();
        synchronized (LOCK) {
            return isFake;
        }
    }

    /** The fake's counters and failure switch; only when {@link #isFake()}. */
    public static Hooks hooks() {
        synchronized (LOCK) {
            if (hooks == null) {
                hooks = new Hooks(library().orElseThrow());
            }
            return hooks;
        }
    }

    private static Optional<String> choose() {
        String forced = System.getProperty("hmm.cuda.library");
        if (forced != null && !forced.isBlank()) {
            isFake = SymbolLookup.libraryLookup(Path.of(forced), Arena.global()).find("fakecuda_launches").isPresent();
            return Optional.of(forced);
        }
        try {
            CudaContext ctx = CudaContext.open(new CudaDriver(CudaDeviceConfig.DEFAULT_LIBRARY), 0);
            ctx.release();
            return Optional.of(CudaDeviceConfig.DEFAULT_LIBRARY);
        } catch (CudaException e) {
            // no GPU here: fall back to the fake
        }
        Optional<Path> fake = compile();
        isFake = fake.isPresent();
        return fake.map(Path::toString);
    }

    /** Compiles the fake from the test class path into a temporary directory; empty if there is no C compiler. */
    private static Optional<Path> compile() {
        try {
            // under the module's target/ (the build's working directory), not /tmp: /tmp may be mounted noexec, and
            // dlopen cannot map a library from there
            Path target = Path.of("target");
            Path dir = Files.isDirectory(target) && Files.isWritable(target)
                    ? Files.createTempDirectory(target, "fakecuda") : Files.createTempDirectory("fakecuda");
            dir.toFile().deleteOnExit();
            Path src = dir.resolve("fakecuda.c");
            try (InputStream in = FakeCuda.class.getResourceAsStream("fakecuda.c")) {
                if (in == null) {
                    throw new IllegalStateException("fakecuda.c is not on the test class path");
                }
                Files.copy(in, src, StandardCopyOption.REPLACE_EXISTING);
            }
            Path lib = dir.resolve("libfakecuda.so");
            // no -Werror here: a newer compiler's new warning must not fail the build (fakecuda.c's header has the
            // strict command for whoever edits it)
            for (String cc : new String[] {"cc", "gcc", "clang"}) {
                Process p;
                try {
                    p = new ProcessBuilder(cc, "-shared", "-fPIC", "-O2", "-std=c11", "-Wall", "-o",
                            lib.toString(), src.toString(), "-lpthread").redirectErrorStream(true).start();
                } catch (IOException noSuchCompiler) {
                    continue;
                }
                String output = new String(p.getInputStream().readAllBytes());
                if (!p.waitFor(120, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new IllegalStateException(cc + " did not compile fakecuda.c within 120 s");
                }
                if (p.exitValue() != 0) {
                    throw new IllegalStateException(cc + " failed on fakecuda.c:\n" + output);
                }
                lib.toFile().deleteOnExit();
                src.toFile().deleteOnExit();
                try {
                    SymbolLookup.libraryLookup(lib, Arena.global());
                } catch (IllegalArgumentException e) {
                    System.err.println("FakeCuda: compiled " + lib + " but cannot load it (" + e.getMessage()
                            + "); the CUDA tests are skipped");
                    return Optional.empty();
                }
                return Optional.of(lib);
            }
            return Optional.empty();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** The fake's test hooks, bound from the same loaded library as the driver calls. */
    public static final class Hooks {
        private final MethodHandle launches;
        private final MethodHandle liveDeviceBytes;
        private final MethodHandle liveHostAllocations;
        private final MethodHandle registeredRanges;
        private final MethodHandle liveStreams;
        private final MethodHandle retainedContexts;
        private final MethodHandle failNextLaunches;

        private Hooks(String library) {
            SymbolLookup lib = SymbolLookup.libraryLookup(Path.of(library), Arena.global());
            Linker l = Linker.nativeLinker();
            launches = l.downcallHandle(lib.find("fakecuda_launches").orElseThrow(), FunctionDescriptor.of(JAVA_INT));
            liveDeviceBytes = l.downcallHandle(lib.find("fakecuda_live_device_bytes").orElseThrow(),
                    FunctionDescriptor.of(JAVA_LONG));
            liveHostAllocations = l.downcallHandle(lib.find("fakecuda_live_host_allocations").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT));
            registeredRanges = l.downcallHandle(lib.find("fakecuda_registered_ranges").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT));
            liveStreams = l.downcallHandle(lib.find("fakecuda_live_streams").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT));
            retainedContexts = l.downcallHandle(lib.find("fakecuda_retained_contexts").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT));
            failNextLaunches = l.downcallHandle(lib.find("fakecuda_fail_next_launches").orElseThrow(),
                    FunctionDescriptor.ofVoid(JAVA_INT, JAVA_INT));
        }

        public int launches() {
            return (int) call(launches);
        }

        public long liveDeviceBytes() {
            try {
                return (long) liveDeviceBytes.invokeExact();
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        public int liveHostAllocations() {
            return (int) call(liveHostAllocations);
        }

        public int registeredRanges() {
            return (int) call(registeredRanges);
        }

        public int liveStreams() {
            return (int) call(liveStreams);
        }

        public int retainedContexts() {
            return (int) call(retainedContexts);
        }

        /** The next {@code count} launches copy nothing and their stream's next synchronize returns {@code code}. */
        public void failNextLaunches(int count, int code) {
            try {
                failNextLaunches.invokeExact(count, code);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        private static int call(MethodHandle h) {
            try {
                return (int) h.invokeExact();
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }
    }
}
