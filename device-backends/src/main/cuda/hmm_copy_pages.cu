// The copy kernel of the CUDA device backend (dev.hmm.device.cuda.CudaCopyEngine): one launch moves a whole
// CopyBatch, gathering scattered source frames into scattered destination frames, as a copy engine's DMA descriptor
// list would. Either side may be device memory or registered host memory (read over PCIe through UVA): the gather
// kernel of shared/reference/cuda-probe reached 49.6 GB/s H2D and 51.8 GB/s D2H on an H100 with 4 KiB pages.
//
// Grid: x = chunks per page (pageBytes / chunkBytes), y = pages of this launch; a block copies one chunk of one page
// in 16-byte words. A negative source index zero-fills the destination page (CopyBatch.FILL: populate on migrate).
//
// Regenerate the PTX next to the Java resources after a change (compute_75: the oldest target CUDA 13 supports; the
// driver JIT-compiles it for the GPU at hand). nvcc 13 writes PTX ISA 9.0, which only CUDA 13 drivers load; the
// kernel uses no instruction newer than ISA 7.0 (CUDA 11.0), so the sed lowers the version line for older drivers,
// and ptxas checks the result:
//   nvcc -ptx -arch=compute_75 -o ../resources/dev/hmm/device/cuda/hmm_copy_pages.ptx hmm_copy_pages.cu
//   sed -i 's/^\.version .*/.version 7.0/' ../resources/dev/hmm/device/cuda/hmm_copy_pages.ptx
//   ptxas -arch=sm_90 ../resources/dev/hmm/device/cuda/hmm_copy_pages.ptx -o /dev/null
extern "C" __global__ void hmm_copy_pages(const unsigned char* __restrict__ src, unsigned char* __restrict__ dst,
                                          const int* __restrict__ srcIdx, const int* __restrict__ dstIdx,
                                          int pageBytes, int chunkBytes) {
    const int page = blockIdx.y;
    const long long off = (long long) blockIdx.x * chunkBytes;
    const int s = srcIdx[page];
    uint4* d = (uint4*) (dst + (long long) dstIdx[page] * pageBytes + off);
    const int words = chunkBytes / 16;
    if (s < 0) {
        const uint4 zero = make_uint4(0, 0, 0, 0);
        for (int i = threadIdx.x; i < words; i += blockDim.x) {
            d[i] = zero;
        }
        return;
    }
    const uint4* from = (const uint4*) (src + (long long) s * pageBytes + off);
    for (int i = threadIdx.x; i < words; i += blockDim.x) {
        d[i] = from[i];
    }
}
