package dev.hmm.device.cuda;

/**
 * A CUDA driver call failed, or the driver is not there. {@link #code()} is the {@code CUresult} (-1 when no call
 * was made: the library could not be loaded), {@link #errorName()} its name ({@code CUDA_ERROR_OUT_OF_MEMORY}).
 */
public final class CudaException extends RuntimeException {
    private final int code;
    private final String errorName;

    CudaException(String message) {
        super(message);
        this.code = -1;
        this.errorName = "";
    }

    CudaException(int code, String errorName, String message) {
        super(message);
        this.code = code;
        this.errorName = errorName;
    }

    /** The {@code CUresult}, or -1 when the driver could not be loaded. */
    public int code() {
        return code;
    }

    /** The driver's name for {@link #code()} ({@code cuGetErrorName}), empty when no call was made. */
    public String errorName() {
        return errorName;
    }
}
