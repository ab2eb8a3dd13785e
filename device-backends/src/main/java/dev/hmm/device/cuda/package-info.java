/**
 * A real NVIDIA GPU as a device of the engine, through the CUDA driver API ({@code libcuda.so.1}) and FFM:
 * {@link dev.hmm.device.cuda.CudaDevice}. Device-private memory in GPU memory, a gather kernel per copy batch, system
 * RAM read in place through registered host memory. No CUDA toolkit at run time: the kernel ships as PTX.
 */
package dev.hmm.device.cuda;
