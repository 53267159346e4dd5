{
  "targets": [
    {
      "target_name": "t2i_native",
      "sources": ["native/t2i_native.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-exceptions", "-ffp-contract=off"],
      "cflags_cc!": ["-fno-rtti"],
      "libraries": ["-lopenblas", "-lpthread"]
    }
  ]
}
