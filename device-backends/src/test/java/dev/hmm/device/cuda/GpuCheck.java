package dev.hmm.device.cuda;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import java.io.PrintWriter;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * Runs {@link CudaDeviceTest} on a real GPU, outside Maven: for a machine that has a GPU and a Java runtime but no
 * build tools ({@code bench/gpu-kit.sh} packs what it needs). Refuses to run on the fake driver, so that a GPU check
 * cannot pass without a GPU, unless given {@code --rehearse} (to try the kit on a machine without one, with
 * {@code -Dhmm.cuda.library=} the compiled fake). Exit 0 when every test passed, 1 otherwise, 2 without a GPU.
 */
public final class GpuCheck {
    private GpuCheck() {
    }

    public static void main(String[] args) {
        String lib = FakeCuda.library().orElse(null);
        boolean rehearse = args.length > 0 && args[0].equals("--rehearse");
        if (lib == null || FakeCuda.isFake() && !rehearse) {
            System.err.println("gpu check: no GPU here (driver library: " + lib + "); expected libcuda.so.1 and a GPU");
            System.exit(2);
        }
        try (CudaDevice probe = new CudaDevice(CudaDeviceConfig.of("probe", 1 << 20).withLibrary(lib))) {
            System.out.printf("gpu check on %s (%d MiB), CUDA driver %d, %s%n", probe.gpuName(),
                    probe.gpuMemoryBytes() >> 20, probe.driverVersion(), lib);
        }
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(selectClass(CudaDeviceTest.class)).build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        launcher.execute(request, listener);
        TestExecutionSummary summary = listener.getSummary();
        PrintWriter out = new PrintWriter(System.out, true);
        summary.printTo(out);
        summary.printFailuresTo(out, 40);
        System.exit(summary.getTotalFailureCount() == 0 && summary.getTestsSucceededCount() > 0 ? 0 : 1);
    }
}
