# node-gyp build of the oneDNN addon (worker/native/README in worker/tf/native-kernels.ts explains the
# design). Debian's libdnnl-dev puts dnnl.hpp under /usr/include and libdnnl.so (OpenMP build) in the
# default library path; -fopenmp links the same libgomp, so our own elementwise loops share oneDNN's
# thread pool and its thread count.
{
  "targets": [
    {
      "target_name": "resnet_native",
      "sources": ["src/addon.cc", "src/conv.cc", "src/bnorm.cc", "src/elementwise.cc"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fexceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldnnl", "-lgomp"]
    }
  ]
}
