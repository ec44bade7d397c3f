"""On-device benchmarking: token rates, cold start, memory and the bandwidth roofline.

Each backend runs in a worker process of its own (so cold start and peak RSS
are its own), and the runner interleaves their repeats (A B A B ...) so that
drift of a shared machine falls on all of them alike. The entry point is
api.run(BenchRequest) -> BenchReport; the benchmark sits above export (it exports the
models it measures), so nothing in the runtime imports it.
"""

# The report's version (docs/benchmarks.md, "The report"). 2: every result has `batch` and
# `speculative` (a schema 1 report's rows are batch 1, speculative null), and a batch row's
# decode_tps and roofline_tps are its B sequences' aggregate.
SCHEMA = 2
# What `edge-reason bench` can measure: the native engine and the baselines.
BACKENDS = ("native", "onnxruntime", "tflite", "llama.cpp", "torch")
# "file": a GGUF file's own tensor types, as llama.cpp runs them and Engine.load(quant=None)
# reads them (Q8_0/Q4_0 as they are, other types requantized to int8).
QUANTS = ("f32", "int8", "int4", "file")
FILE_QUANT = "file"
# `--batch`: prompts decoded together (native only), at most this many.
MAX_BATCH = 64
# `--speculative`: the speculative decoding methods the native engine has.
SPECULATIVE = ("prompt-lookup",)
