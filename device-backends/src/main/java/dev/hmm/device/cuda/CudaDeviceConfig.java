package dev.hmm.device.cuda;

/**
 * Configuration of a {@link CudaDevice}: the engine's name for it, how much of the GPU's memory it manages (a
 * multiple of the engine's page size, at most what the GPU has), which GPU ({@code ordinal}, as
 * {@code CUDA_VISIBLE_DEVICES} numbers them) and which driver library ({@code libcuda.so.1} from the loader path by
 * default; a path selects another, such as a test double of the driver API).
 */
public record CudaDeviceConfig(String name, long capacityBytes, int ordinal, String library) {
    /** The driver library of an NVIDIA driver install, found on the loader path. */
    public static final String DEFAULT_LIBRARY = "libcuda.so.1";

    public CudaDeviceConfig {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("CUDA device name must not be blank: name=" + name);
        }
        if (capacityBytes <= 0) {
            throw new IllegalArgumentException("CUDA device " + name + ": capacityBytes=" + capacityBytes
                    + ", expected a positive byte count");
        }
        if (ordinal < 0) {
            throw new IllegalArgumentException("CUDA device " + name + ": ordinal=" + ordinal
                    + ", expected a GPU number from 0");
        }
        if (library == null || library.isBlank()) {
            throw new IllegalArgumentException("CUDA device " + name + ": library must name the driver library, e.g. "
                    + DEFAULT_LIBRARY);
        }
    }

    /** GPU 0 through the installed driver. */
    public static CudaDeviceConfig of(String name, long capacityBytes) {
        return new CudaDeviceConfig(name, capacityBytes, 0, DEFAULT_LIBRARY);
    }

    public CudaDeviceConfig withOrdinal(int ordinal) {
        return new CudaDeviceConfig(name, capacityBytes, ordinal, library);
    }

    public CudaDeviceConfig withLibrary(String library) {
        return new CudaDeviceConfig(name, capacityBytes, ordinal, library);
    }
}
