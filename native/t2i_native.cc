// t2i-align native kernels: sgemm (batched, transpose flags, fused bias and
// activation) and NHWC conv2d forward / input gradient / filter gradient
// (im2col + sgemm, or Winograd F(2x2, 3x3) for large 3x3 stride-1 forward and
// input-gradient convolutions), over OpenBLAS. The tensors live in the tfjs wasm backend's
// heap: every function takes that heap's ArrayBuffer plus byte offsets, reads
// its inputs and writes its output in place (zero copy).
//
// OpenBLAS's own symbols are declared here (not taken from cblas.h) so the
// build needs only libopenblas (Debian: libopenblas-dev), whichever cblas.h
// the alternatives system points at.
#include <node_api.h>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern "C" {
enum CBLAS_ORDER_ { RowMajor_ = 101 };
enum CBLAS_TRANS_ { NoTrans_ = 111, Trans_ = 112 };
void cblas_sgemm(int order, int transA, int transB, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc);
void openblas_set_num_threads(int);
int openblas_get_num_threads(void);
char* openblas_get_config(void);
char* openblas_get_corename(void);
}

namespace {

#define CHECK(call)                                                    \
  do {                                                                 \
    if ((call) != napi_ok) {                                           \
      napi_throw_error(env, nullptr, "t2i_native: N-API call failed"); \
      return nullptr;                                                  \
    }                                                                  \
  } while (0)

bool throwIf(napi_env env, bool bad, const char* msg) {
  if (bad) napi_throw_error(env, nullptr, msg);
  return bad;
}

// ---- argument helpers ----------------------------------------------------
struct Args {
  napi_env env;
  size_t argc = 16;
  napi_value argv[16];
  bool ok = true;
  Args(napi_env e, napi_callback_info info) : env(e) {
    if (napi_get_cb_info(e, info, &argc, argv, nullptr, nullptr) != napi_ok) ok = false;
  }
  double num(size_t i) {
    double v = 0;
    if (i >= argc || napi_get_value_double(env, argv[i], &v) != napi_ok) ok = false;
    return v;
  }
  int64_t i64(size_t i) { return (int64_t)num(i); }
  // Heap ArrayBuffer: base pointer and byte length.
  uint8_t* heap(size_t i, size_t* len) {
    void* data = nullptr;
    if (i >= argc || napi_get_arraybuffer_info(env, argv[i], &data, len) != napi_ok) {
      ok = false;
      return nullptr;
    }
    return (uint8_t*)data;
  }
  template <typename T>
  T* typed(size_t i, napi_typedarray_type want, size_t* n) {
    napi_typedarray_type t;
    void* data = nullptr;
    napi_value ab;
    size_t off;
    if (i >= argc || napi_get_typedarray_info(env, argv[i], &t, n, &data, &ab, &off) != napi_ok || t != want) {
      ok = false;
      return nullptr;
    }
    return (T*)data;
  }
};

// A float pointer at byte offset `off` into a heap of `len` bytes, holding `count` floats; null when out of range.
float* at(uint8_t* heap, size_t len, int64_t off, int64_t count) {
  if (off < 0 || (off & 3) != 0 || count < 0 || (uint64_t)off + (uint64_t)count * 4 > len) return nullptr;
  return (float*)(heap + off);
}

// ---- epilogue: bias and activation -----------------------------------------
enum Act { LINEAR = 0, RELU = 1, RELU6 = 2, LEAKYRELU = 3, SIGMOID = 4, ELU = 5 };

void epilogue(float* c, int64_t rows, int64_t n, const float* bias, int act, float alpha) {
  if (!bias && act == LINEAR) return;
  for (int64_t r = 0; r < rows; r++) {
    float* row = c + r * n;
    if (bias)
      for (int64_t j = 0; j < n; j++) row[j] += bias[j];
    switch (act) {
      case RELU:
        for (int64_t j = 0; j < n; j++) row[j] = row[j] > 0 ? row[j] : 0;
        break;
      case RELU6:
        for (int64_t j = 0; j < n; j++) row[j] = std::min(std::max(row[j], 0.f), 6.f);
        break;
      case LEAKYRELU:
        for (int64_t j = 0; j < n; j++) row[j] = row[j] > 0 ? row[j] : alpha * row[j];
        break;
      case SIGMOID:
        for (int64_t j = 0; j < n; j++) row[j] = 1.f / (1.f + std::exp(-row[j]));
        break;
      case ELU:
        for (int64_t j = 0; j < n; j++) row[j] = row[j] > 0 ? row[j] : std::expm1(row[j]);
        break;
      default:
        break;
    }
  }
}

// ---- threads -------------------------------------------------------------------
// One pool of workers for the whole process, started on first use and woken for each parallel
// region (starting and joining a std::thread costs ~50 us here, and a training step makes hundreds
// of parallel calls). After a region a worker spins for g_poolSpinUs (T2I_POOL_SPIN_US, default 200),
// polling for the next one, and then sleeps on a condition variable: a training step's regions come
// tens of microseconds apart, and waking a sleeping thread costs about as much as a small region's
// work. OpenBLAS always runs on one thread inside the kit (the pool splits the work), so a spinning
// worker never takes a core from OpenBLAS's own threads. A region that starts while another runs (a nested call, or a second JS
// thread) runs its parts one after another on the calling thread: the same parts, so the same results.
int64_t g_poolSpinUs = 200;

class ThreadPool {
 public:
  // Run part(t) for t in [0, parts) at once, the caller taking part 0; returns when all are done.
  template <typename F>
  void run(int parts, F&& part) {
    if (parts <= 1 || parts > kMaxParts || busy_.exchange(true)) {
      for (int t = 0; t < parts; t++) part(t);
      return;
    }
    std::function<void(int)> job = part;
    {
      std::lock_guard<std::mutex> lock(m_);
      while ((int)workers_.size() < parts - 1) {
        int idx = (int)workers_.size() + 1;
        uint64_t seen = state_.load() >> kPartBits;  // the region about to start is the new worker's first
        workers_.emplace_back([this, idx, seen] { loop(idx, seen); });
        workers_.back().detach();
      }
      job_ = &job;
      pending_.store(parts - 1);
      // Generation and part count in one word, so a worker never pairs one region's count with another's.
      state_.store((((state_.load() >> kPartBits) + 1) << kPartBits) | (uint64_t)parts, std::memory_order_release);
    }
    if (sleepers_.load() > 0) wake_.notify_all();
    job(0);
    for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; spins++) {
      if (spins < 4096) pause();
      else std::this_thread::yield();
    }
    busy_.store(false);
  }

 private:
  // state_ = generation << kPartBits | parts (more parts than the CLI allows threads, 1024).
  static constexpr int kPartBits = 16;
  static constexpr int kMaxParts = (1 << kPartBits) - 1;
  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  void loop(int idx, uint64_t seen) {
    for (;;) {
      uint64_t s = state_.load(std::memory_order_acquire);
      if ((s >> kPartBits) == seen) {
        auto start = std::chrono::steady_clock::now();
        for (int spins = 1; (s = state_.load(std::memory_order_acquire)) >> kPartBits == seen; spins++) {
          pause();
          if ((spins & 255) == 0 &&
              std::chrono::steady_clock::now() - start > std::chrono::microseconds(g_poolSpinUs)) {
            std::unique_lock<std::mutex> lock(m_);
            sleepers_++;
            wake_.wait(lock, [&] { return state_.load() >> kPartBits != seen; });
            sleepers_--;
          }
        }
      }
      seen = s >> kPartBits;
      if (idx < (int)(s & kMaxParts)) {
        (*job_)(idx);  // job_ stays set until every part of this region is done
        pending_.fetch_sub(1, std::memory_order_release);
      }
    }
  }
  std::mutex m_;
  std::condition_variable wake_;
  std::vector<std::thread> workers_;
  std::function<void(int)>* job_ = nullptr;
  std::atomic<uint64_t> state_{0};
  std::atomic<int> pending_{0}, sleepers_{0};
  std::atomic<bool> busy_{false};
};

ThreadPool& pool() {
  static ThreadPool* p = new ThreadPool();  // never destroyed: its detached workers outlive static destructors
  return *p;
}

// Run f(lo, hi) over [0, n) split into `threads` equal parts (the caller's thread takes the first).
template <typename F>
void parallelFor(int64_t n, int threads, F f) {
  threads = (int)std::max<int64_t>(1, std::min<int64_t>(threads, n));
  if (threads == 1) {
    f(0, n);
    return;
  }
  int64_t per = (n + threads - 1) / threads;
  pool().run(threads, [&](int t) {
    int64_t lo = t * per, hi = std::min(n, lo + per);
    if (lo < hi) f(lo, hi);
  });
}

int g_threads = 1;  // threads for our own loops (im2col / col2im / epilogue)

// ---- task-parallel conv: each thread runs im2col + a single-threaded sgemm on its own
// chunk of rows, so the columns are consumed while still in cache and the threads never
// wait on each other inside a gemm (measured faster than one OpenBLAS-threaded gemm over
// all rows for the narrow N = Cout shapes of small convs).
int g_convMode = 1;               // 1: task-parallel (default), 0: im2col + one gemm cut over the pool (sgemmPar)
int64_t g_taskBytes = 3 << 20;    // im2col bytes per task

// Run task(i, threadIndex) for i in [0, n) on g_threads threads pulling from a shared counter.
template <typename F>
void runTasks(int64_t n, int threads, F task) {
  threads = (int)std::max<int64_t>(1, std::min<int64_t>(threads, n));
  std::atomic<int64_t> next{0};
  pool().run(threads, [&](int t) {
    for (int64_t i; (i = next.fetch_add(1)) < n;) task(i, t);
  });
}

// ---- sgemm -----------------------------------------------------------------
// OpenBLAS runs on one thread inside the kit (set at load): its own threads, woken for each threaded
// call, cost ~50 us each time and competed with the pool for the two cores. A large product is cut
// here instead, into bands of C's rows (of its columns when it has few rows) run as pool tasks. No sum
// is split: each element of C is summed over K by one call. The cut depends on the shape only, never
// on the thread count: OpenBLAS's kernels may sum an element in an order that depends on where it
// falls in the call's register tiles (its Haswell sgemm groups rows by 24, then 16, 8, ...), so bands
// that moved with the thread count changed the bits (seen on an AMD EPYC with OpenBLAS 0.3.21).
constexpr int64_t kBandUnit = 16, kMinBandUnits = 4, kMaxBands = 8;
void sgemmPar(bool tA, bool tB, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
              int64_t ldb, float beta, float* C, int64_t ldc, int threads) {
  auto call = [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    if (m1 <= m0 || n1 <= n0) return;
    const float* a = A + (tA ? m0 : m0 * lda);
    const float* b = B + (tB ? n0 * ldb : n0);
    cblas_sgemm(RowMajor_, tA ? Trans_ : NoTrans_, tB ? Trans_ : NoTrans_, (int)(m1 - m0), (int)(n1 - n0), (int)K, 1.f, a,
                (int)lda, b, (int)ldb, beta, C + m0 * ldc + n0, (int)ldc);
  };
  const bool byRows = M >= kBandUnit * kMinBandUnits || M >= N;
  const int64_t n = byRows ? M : N;
  // Bands of whole 16-row units (the last unit may be short), at least 4 units each, at most 8 bands,
  // an even count so that two threads get equal shares; at most one unit more in one band than in another.
  const int64_t units = (n + kBandUnit - 1) / kBandUnit;
  int64_t bands = std::min<int64_t>(kMaxBands, units / kMinBandUnits);
  if (bands > 1) bands -= bands & 1;
  if (bands <= 1) {
    call(0, M, 0, N);
    return;
  }
  runTasks(bands, threads, [&](int64_t i, int) {
    const int64_t lo = std::min(n, units * i / bands * kBandUnit), hi = std::min(n, units * (i + 1) / bands * kBandUnit);
    if (byRows)
      call(lo, hi, 0, N);
    else
      call(0, M, lo, hi);
  });
}

constexpr double kSmallGemmMacs = 1 << 20;        // below this, any gemm call runs on one thread
constexpr double kSmallSingleGemmMacs = 1 << 22;  // below this, a single (unbatched) product runs on one thread
// gemm(heap, batch, M, N, K, transA, transB, aOffs:Float64Array, bOffs:Float64Array, cOff,
//      biasOff (-1: none), biasLen (N or 1), act, alpha)
// C[i] (M x N, contiguous from cOff) = op(A[i]) op(B[i]) (+ bias) (activation).
// A[i] at aOffs[i] is M x K (K x M when transA), B[i] at bOffs[i] is K x N (N x K when transB).
napi_value Gemm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t len = 0;
  uint8_t* heap = a.heap(0, &len);
  int64_t batch = a.i64(1), M = a.i64(2), N = a.i64(3), K = a.i64(4);
  bool tA = a.num(5) != 0, tB = a.num(6) != 0;
  size_t na = 0, nb = 0;
  double* aOffs = a.typed<double>(7, napi_float64_array, &na);
  double* bOffs = a.typed<double>(8, napi_float64_array, &nb);
  int64_t cOff = a.i64(9), biasOff = a.i64(10), biasLen = a.i64(11);
  int act = (int)a.i64(12);
  float alpha = (float)a.num(13);
  if (throwIf(env, !a.ok, "t2i_native.gemm: bad arguments")) return nullptr;
  if (throwIf(env, (int64_t)na != batch || (int64_t)nb != batch, "t2i_native.gemm: offsets length != batch")) return nullptr;
  float* C = at(heap, len, cOff, batch * M * N);
  const float* bias = biasOff >= 0 ? at(heap, len, biasOff, biasLen) : nullptr;
  if (throwIf(env, !C || (biasOff >= 0 && !bias), "t2i_native.gemm: output out of heap")) return nullptr;
  std::vector<float> biasRow;
  if (bias && biasLen == 1 && N != 1) {
    biasRow.assign(N, bias[0]);
    bias = biasRow.data();
  }
  for (int64_t i = 0; i < batch; i++) {
    if (throwIf(env, !at(heap, len, (int64_t)aOffs[i], M * K) || !at(heap, len, (int64_t)bOffs[i], K * N),
                "t2i_native.gemm: input out of heap"))
      return nullptr;
  }
  auto one = [&](int64_t i) {
    float* Ci = C + i * M * N;
    if (M == 0 || N == 0) return;
    if (K == 0) {
      std::fill(Ci, Ci + M * N, 0.f);
      return;
    }
    cblas_sgemm(RowMajor_, tA ? Trans_ : NoTrans_, tB ? Trans_ : NoTrans_, (int)M, (int)N, (int)K, 1.f,
                (const float*)(heap + (int64_t)aOffs[i]), tA ? (int)M : (int)K, (const float*)(heap + (int64_t)bOffs[i]),
                tB ? (int)K : (int)N, 0.f, Ci, (int)N);
  };
  const double macs = (double)batch * M * N * K;
  if (macs <= kSmallGemmMacs || (batch == 1 && (M < 16 || macs <= kSmallSingleGemmMacs))) {
    // Small work: threads would cost more than they save (a thread start or an OpenBLAS barrier is
    // ~10-50 us idle, milliseconds when the cores are shared), and one row (M = 1, the bias
    // gradients' ones x dy) cannot be split well by OpenBLAS anyway.
    for (int64_t i = 0; i < batch; i++) one(i);
  } else if (batch >= 2 && (double)M * N * K <= 192.0 * 192 * 192) {
    // Many small products: whole products per task, single-threaded BLAS (no barrier per product).
    // Chosen by shape, not by thread count, so that one product is the same call on any number of threads.
    runTasks(batch, g_threads, [&](int64_t i, int) { one(i); });
  } else {
    for (int64_t i = 0; i < batch; i++)
      if (M > 0 && N > 0 && K > 0)
        sgemmPar(tA, tB, M, N, K, (const float*)(heap + (int64_t)aOffs[i]), tA ? M : K,
                 (const float*)(heap + (int64_t)bOffs[i]), tB ? K : N, 0.f, C + i * M * N, N, g_threads);
      else
        one(i);
  }
  if (bias || act != LINEAR) {
    parallelFor(batch * M, M * N * batch > 65536 ? g_threads : 1,
                [&](int64_t lo, int64_t hi) { epilogue(C + lo * N, hi - lo, N, bias, act, alpha); });
  }
  return nullptr;
}

// Loops over contiguous channels are written to vectorise; on x86-64 a function marked T2I_VECTOR is
// also compiled for AVX2 and the copy to run is picked at load time (target_clones), so the addon
// still runs on any x86-64.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define T2I_VECTOR __attribute__((target_clones("avx2", "default")))
#else
#define T2I_VECTOR
#endif

// ---- convolution ---------------------------------------------------------------
struct Conv {
  int64_t B, H, W, Cin, OH, OW, Cout, KH, KW, sh, sw, dh, dw, pt, pl;
  int64_t patch() const { return KH * KW * Cin; }
  bool pointwise() const { return KH == 1 && KW == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && OH == H && OW == W; }
};

bool readConv(Args& a, size_t i, Conv& c) {
  size_t n = 0;
  int32_t* p = a.typed<int32_t>(i, napi_int32_array, &n);
  if (!p || n != 15) return false;
  c = Conv{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13], p[14]};
  return c.B >= 0 && c.H > 0 && c.W > 0 && c.Cin > 0 && c.Cout > 0 && c.KH > 0 && c.KW > 0 && c.sh > 0 && c.sw > 0 &&
         c.dh > 0 && c.dw > 0 && c.OH >= 0 && c.OW >= 0;
}

// Columns for output rows [r0, r1) (row = (b, oh, ow)): cols[r - r0] = patch of KH*KW*Cin values.
void im2col(const Conv& c, const float* x, float* cols, int64_t r0, int64_t r1) {
  const int64_t P = c.patch();
  for (int64_t r = r0; r < r1; r++) {
    int64_t b = r / (c.OH * c.OW), rem = r % (c.OH * c.OW), oh = rem / c.OW, ow = rem % c.OW;
    float* dst = cols + (r - r0) * P;
    const float* xb = x + b * c.H * c.W * c.Cin;
    for (int64_t kh = 0; kh < c.KH; kh++) {
      int64_t ih = oh * c.sh - c.pt + kh * c.dh;
      if (ih < 0 || ih >= c.H) {
        std::memset(dst, 0, sizeof(float) * c.KW * c.Cin);
        dst += c.KW * c.Cin;
        continue;
      }
      for (int64_t kw = 0; kw < c.KW; kw++, dst += c.Cin) {
        int64_t iw = ow * c.sw - c.pl + kw * c.dw;
        if (iw < 0 || iw >= c.W)
          std::memset(dst, 0, sizeof(float) * c.Cin);
        else
          std::memcpy(dst, xb + (ih * c.W + iw) * c.Cin, sizeof(float) * c.Cin);
      }
    }
  }
}

// dx += col2im(dcols) for images [b0, b1); dcols holds rows of images b0.. (row r - b0*OH*OW).
void col2im(const Conv& c, const float* dcols, float* dx, int64_t b0, int64_t b1, int64_t rowBase) {
  const int64_t P = c.patch();
  for (int64_t b = b0; b < b1; b++) {
    float* dxb = dx + b * c.H * c.W * c.Cin;
    for (int64_t oh = 0; oh < c.OH; oh++)
      for (int64_t ow = 0; ow < c.OW; ow++) {
        const float* src = dcols + ((b * c.OH + oh) * c.OW + ow - rowBase) * P;
        for (int64_t kh = 0; kh < c.KH; kh++) {
          int64_t ih = oh * c.sh - c.pt + kh * c.dh;
          if (ih < 0 || ih >= c.H) {
            src += c.KW * c.Cin;
            continue;
          }
          for (int64_t kw = 0; kw < c.KW; kw++, src += c.Cin) {
            int64_t iw = ow * c.sw - c.pl + kw * c.dw;
            if (iw < 0 || iw >= c.W) continue;
            float* d = dxb + (ih * c.W + iw) * c.Cin;
#pragma GCC ivdep
            for (int64_t ci = 0; ci < c.Cin; ci++) d[ci] += src[ci];
          }
        }
      }
  }
}

thread_local std::vector<float> g_cols;
int64_t g_chunkBytes = 64 << 20;  // im2col scratch per chunk (smaller chunks measured slower: narrower gemms)

float* scratch(int64_t n) {
  if ((int64_t)g_cols.size() < n) {
    g_cols.clear();
    g_cols.shrink_to_fit();
    g_cols.resize(n);
  }
  return g_cols.data();
}

// Images per chunk so that one chunk's columns stay near g_chunkBytes.
int64_t imagesPerChunk(const Conv& c) {
  int64_t perImage = c.OH * c.OW * c.patch() * 4;
  return std::max<int64_t>(1, std::min<int64_t>(c.B, g_chunkBytes / std::max<int64_t>(1, perImage)));
}

std::vector<std::vector<float>> g_taskScratch;
float* taskScratch(int t, int64_t n) {
  if ((int64_t)g_taskScratch.size() <= t) g_taskScratch.resize(t + 1);
  auto& v = g_taskScratch[t];
  if ((int64_t)v.size() < n) v.resize(n);
  return v.data();
}

int64_t taskRows(const Conv& c) { return std::max<int64_t>(1, g_taskBytes / (c.patch() * 4)); }

// The size of tasks of at most `cap` units each over n units, their count rounded up to a multiple of 4
// so that 1, 2 or 4 threads get equal shares (5 tasks on 2 threads left one idle for a fifth of the
// time). It depends on the shape only, never on the thread count, so the filter gradient's partial sums
// are the same on any number of threads.
int64_t balancedTaskSize(int64_t n, int64_t cap) {
  if (n <= 0) return 1;
  int64_t tasks = (n + cap - 1) / std::max<int64_t>(1, cap);
  tasks = (tasks + 3) / 4 * 4;
  return std::max<int64_t>(1, (n + tasks - 1) / tasks);
}

void convForwardTasks(const Conv& c, const float* x, const float* w, float* y, const float* bias, int act, float alpha) {
  const int64_t P = c.patch(), rows = c.B * c.OH * c.OW, tr = balancedTaskSize(rows, taskRows(c));
  const int64_t nTasks = (rows + tr - 1) / tr;
  int threads = g_threads;
  for (int t = 0; t < threads; t++) taskScratch(t, tr * P);
  runTasks(nTasks, threads, [&](int64_t i, int t) {
    int64_t r0 = i * tr, r1 = std::min(rows, r0 + tr);
    float* cols = g_taskScratch[t].data();
    im2col(c, x, cols, r0, r1);
    cblas_sgemm(RowMajor_, NoTrans_, NoTrans_, (int)(r1 - r0), (int)c.Cout, (int)P, 1.f, cols, (int)P, w, (int)c.Cout, 0.f,
                y + r0 * c.Cout, (int)c.Cout);
    epilogue(y + r0 * c.Cout, r1 - r0, c.Cout, bias, act, alpha);
  });
}

void convBackpropInputTasks(const Conv& c, const float* dy, const float* w, float* dx) {
  const int64_t P = c.patch(), rpi = c.OH * c.OW;
  const int64_t ipt = balancedTaskSize(c.B, std::max<int64_t>(1, taskRows(c) / std::max<int64_t>(1, rpi)));
  const int64_t nTasks = (c.B + ipt - 1) / ipt;
  int threads = g_threads;
  for (int t = 0; t < threads; t++) taskScratch(t, ipt * rpi * P);
  runTasks(nTasks, threads, [&](int64_t i, int t) {
    int64_t b0 = i * ipt, b1 = std::min(c.B, b0 + ipt), r0 = b0 * rpi, r1 = b1 * rpi;
    float* dcols = g_taskScratch[t].data();
    cblas_sgemm(RowMajor_, NoTrans_, Trans_, (int)(r1 - r0), (int)P, (int)c.Cout, 1.f, dy + r0 * c.Cout, (int)c.Cout, w,
                (int)c.Cout, 0.f, dcols, (int)P);
    float* dxb = dx + b0 * c.H * c.W * c.Cin;
    std::fill(dxb, dxb + (b1 - b0) * c.H * c.W * c.Cin, 0.f);
    col2im(c, dcols, dx, b0, b1, r0);
  });
}

// dw = sum over tasks of cols_i^T dy_i, one partial per task of tr rows, added up in task
// order: the sum never depends on which thread ran which task, nor on the thread count.
void convBackpropFilterTasks(const Conv& c, const float* x, const float* dy, float* dw) {
  const int64_t P = c.patch(), rows = c.B * c.OH * c.OW, tr = balancedTaskSize(rows, taskRows(c)), size = P * c.Cout;
  const int64_t nTasks = (rows + tr - 1) / tr;
  int threads = (int)std::min<int64_t>(g_threads, nTasks);
  std::vector<float> partial((nTasks - 1) * size);
  for (int t = 0; t < threads; t++) taskScratch(t, tr * P);
  {
    runTasks(nTasks, threads, [&](int64_t i, int t) {
      int64_t r0 = i * tr, r1 = std::min(rows, r0 + tr);
      float* cols = g_taskScratch[t].data();
      im2col(c, x, cols, r0, r1);
      float* out = i == 0 ? dw : partial.data() + (i - 1) * size;
      cblas_sgemm(RowMajor_, Trans_, NoTrans_, (int)P, (int)c.Cout, (int)(r1 - r0), 1.f, cols, (int)P,
                  dy + r0 * c.Cout, (int)c.Cout, 0.f, out, (int)c.Cout);
    });
  }
  parallelFor(size, size > 65536 ? threads : 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = 1; i < nTasks; i++) {
      const float* p = partial.data() + (i - 1) * size;
      for (int64_t j = lo; j < hi; j++) dw[j] += p[j];
    }
  });
}

// ---- Winograd F(2x2, 3x3): the forward 3x3 stride-1 convolution in 2.25x fewer multiplications ----
// Lavin & Gray (2016): per 2x2 output tile, Y = A^T [ U . V ] A with U = G g G^T (the filter, 4x4 per
// input and output channel) and V = B^T d B (the 4x4 input patch, per channel); the products U . V
// summed over input channels are 16 gemms [tiles, Cin] x [Cin, Cout]. Each task transforms its own
// tiles, runs the 16 gemms on one thread and writes its outputs, so nothing is summed across tasks and
// the result does not depend on the thread count. The transforms round differently from im2col +
// sgemm: outputs agree to float32 rounding of the larger terms (tested against the cpu backend).
int g_winograd = 1;
// A task's transformed inputs and gemm outputs (16 matrices each) fill about this much, so that they
// stay in a core's L2 between the transforms and the gemms; at least 64 tiles a task.
constexpr int64_t kWinogradTaskBytes = 768 << 10;

// The gradients take Winograd from this many output tiles. Before the transforms were vectorised
// (2026-12-03) im2col was as fast or faster below 1024 tiles; since then Winograd won at every UNet
// shape measured, down to 128 tiles (at [32,8,8,96] -> 96, 512 tiles, the input gradient took about
// half the time); smaller shapes were not measured.
constexpr int64_t kWinogradGradTiles = 64;

bool winograd3x3(const Conv& c) { return c.KH == 3 && c.KW == 3 && c.sh == 1 && c.sw == 1 && c.dh == 1 && c.dw == 1; }

// 2x2 output tiles over the batch.
int64_t winogradTiles(const Conv& c) { return c.B * ((c.OH + 1) / 2) * ((c.OW + 1) / 2); }

// 3x3, stride 1, no dilation, and at least 64 output tiles (with the vectorised transforms, [32,4,4,96]
// -> 96, 128 tiles, took two thirds of im2col + sgemm's time; before them im2col won below 256).
bool winogradFits(const Conv& c) { return winograd3x3(c) && c.OH >= 2 && c.OW >= 2 && winogradTiles(c) >= 64; }

// U[k][ci][co], k = 4 i + j, = (G g G^T)[i][j] with G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]; w is [3][3][Cin][Cout].
T2I_VECTOR void winogradFilter(const float* w, float* U, int64_t S) {
#pragma GCC ivdep
  for (int64_t e = 0; e < S; e++) {
    float g[3][3], t[4][3];
    for (int r = 0; r < 3; r++)
      for (int q = 0; q < 3; q++) g[r][q] = w[(r * 3 + q) * S + e];
    for (int q = 0; q < 3; q++) {
      t[0][q] = g[0][q];
      t[1][q] = 0.5f * ((g[0][q] + g[1][q]) + g[2][q]);
      t[2][q] = 0.5f * ((g[0][q] - g[1][q]) + g[2][q]);
      t[3][q] = g[2][q];
    }
    for (int r = 0; r < 4; r++) {
      U[(r * 4 + 0) * S + e] = t[r][0];
      U[(r * 4 + 1) * S + e] = 0.5f * ((t[r][0] + t[r][1]) + t[r][2]);
      U[(r * 4 + 2) * S + e] = 0.5f * ((t[r][0] - t[r][1]) + t[r][2]);
      U[(r * 4 + 3) * S + e] = t[r][2];
    }
  }
}

struct Tiles {
  int64_t H, W;  // tiles per column and row of an image
  void at(int64_t t, int64_t& b, int64_t& th, int64_t& tw) const {
    b = t / (H * W);
    const int64_t r = t % (H * W);
    th = r / W;
    tw = r % W;
  }
};

// How a Winograd convolution is cut into tasks (shared by the forward pass and the filter gradient).
// Each task holds 16 matrices of its tiles by Cin and 16 by Cout; they sit 64 bytes further apart
// than their size, so that their rows do not fall on the same 4 KiB cache sets (a task of 128 tiles x
// 48 channels ran at half speed without). The split depends on the shape only.
struct WinogradPlan {
  Tiles tl;
  int64_t tiles, S, tt, nTasks, ksIn, ksOut;
  int threads;
  explicit WinogradPlan(const Conv& c)
      : tl{(c.OH + 1) / 2, (c.OW + 1) / 2},
        tiles(winogradTiles(c)),
        S(c.Cin * c.Cout),
        tt(balancedTaskSize(tiles, std::max<int64_t>(64, kWinogradTaskBytes / (64 * (c.Cin + c.Cout))))),
        nTasks((tiles + tt - 1) / tt),
        ksIn(tt * c.Cin + 16),
        ksOut(tt * c.Cout + 16),
        threads((int)std::min<int64_t>(g_threads, nTasks)) {}
  // Each thread's scratch: the 16 + 16 matrices, then `extra` floats (zeroed) after them.
  float* scratch(int thread) const { return g_taskScratch[thread].data(); }
  void reserve(int64_t extra) const {
    for (int t = 0; t < threads; t++) std::fill_n(taskScratch(t, 16 * (ksIn + ksOut) + extra) + 16 * (ksIn + ksOut), extra, 0.f);
  }
};

// V[k][t - t0][ci] = (B^T d B)[i][j] for tiles [t0, t1), B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1];
// input pixels outside the image read `zeros` (Cin zeros).
// (filterGrad: B^T of F(3x3, 2x2) instead, whose last row is [0 -1 0 1].)
template <bool filterGrad>
T2I_VECTOR void winogradInput(const Conv& c, const Tiles& tl, const float* x, float* V, int64_t t0, int64_t t1,
                              int64_t ks, const float* zeros) {
  const int64_t Cin = c.Cin;
  for (int64_t t = t0; t < t1; t++) {
    int64_t b, th, tw;
    tl.at(t, b, th, tw);
    const float* d[4][4];
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) {
        const int64_t ih = 2 * th - c.pt + i, iw = 2 * tw - c.pl + j;
        d[i][j] = ih >= 0 && ih < c.H && iw >= 0 && iw < c.W ? x + ((b * c.H + ih) * c.W + iw) * Cin : zeros;
      }
    float* v = V + (t - t0) * Cin;
    // No store to v reaches the rows read (ivdep): without it the loop stayed scalar.
#pragma GCC ivdep
    for (int64_t ci = 0; ci < Cin; ci++) {
      float u[4][4];
      for (int j = 0; j < 4; j++) {
        u[0][j] = d[0][j][ci] - d[2][j][ci];
        u[1][j] = d[1][j][ci] + d[2][j][ci];
        u[2][j] = d[2][j][ci] - d[1][j][ci];
        u[3][j] = filterGrad ? d[3][j][ci] - d[1][j][ci] : d[1][j][ci] - d[3][j][ci];
      }
      for (int i = 0; i < 4; i++) {
        v[(i * 4 + 0) * ks + ci] = u[i][0] - u[i][2];
        v[(i * 4 + 1) * ks + ci] = u[i][1] + u[i][2];
        v[(i * 4 + 2) * ks + ci] = u[i][2] - u[i][1];
        v[(i * 4 + 3) * ks + ci] = filterGrad ? u[i][3] - u[i][1] : u[i][1] - u[i][3];
      }
    }
  }
}

// y's 2x2 tiles [t0, t1) = A^T M A, A^T = [1 1 1 0; 0 1 -1 -1], M[k][t - t0][co] the gemms' output; then
// bias and activation. Outputs past the image's edge (odd OH or OW) go to `spill` (Cout floats).
T2I_VECTOR void winogradOutput(const Conv& c, const Tiles& tl, const float* M, float* y, int64_t t0, int64_t t1,
                               int64_t ks, float* spill, const float* bias, int act, float alpha) {
  const int64_t Cout = c.Cout;
  for (int64_t t = t0; t < t1; t++) {
    int64_t b, th, tw;
    tl.at(t, b, th, tw);
    float* o[2][2];
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 2; j++) {
        const int64_t oh = 2 * th + i, ow = 2 * tw + j;
        o[i][j] = oh < c.OH && ow < c.OW ? y + ((b * c.OH + oh) * c.OW + ow) * Cout : spill;
      }
    const float* m = M + (t - t0) * Cout;
#pragma GCC ivdep
    for (int64_t co = 0; co < Cout; co++) {
      float s0[4], s1[4];
      for (int j = 0; j < 4; j++) {
        s0[j] = (m[j * ks + co] + m[(4 + j) * ks + co]) + m[(8 + j) * ks + co];
        s1[j] = (m[(4 + j) * ks + co] - m[(8 + j) * ks + co]) - m[(12 + j) * ks + co];
      }
      o[0][0][co] = (s0[0] + s0[1]) + s0[2];
      o[0][1][co] = (s0[1] - s0[2]) - s0[3];
      o[1][0][co] = (s1[0] + s1[1]) + s1[2];
      o[1][1][co] = (s1[1] - s1[2]) - s1[3];
    }
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 2; j++)
        if (o[i][j] != spill) epilogue(o[i][j], 1, Cout, bias, act, alpha);
  }
}

void convForwardWinograd(const Conv& c, const float* x, const float* w, float* y, const float* bias, int act, float alpha) {
  const WinogradPlan p(c);
  std::vector<float> U(16 * p.S);
  winogradFilter(w, U.data(), p.S);
  p.reserve(c.Cin + c.Cout);  // zeros (Cin) for pixels past the edge, spill (Cout) for outputs past it
  runTasks(p.nTasks, p.threads, [&](int64_t i, int th) {
    const int64_t t0 = i * p.tt, t1 = std::min(p.tiles, t0 + p.tt), T = t1 - t0;
    float* V = p.scratch(th);
    float* M = V + 16 * p.ksIn;
    float* zeros = M + 16 * p.ksOut;
    float* spill = zeros + c.Cin;
    winogradInput<false>(c, p.tl, x, V, t0, t1, p.ksIn, zeros);
    for (int k = 0; k < 16; k++)
      cblas_sgemm(RowMajor_, NoTrans_, NoTrans_, (int)T, (int)c.Cout, (int)c.Cin, 1.f, V + k * p.ksIn, (int)c.Cin,
                  U.data() + k * p.S, (int)c.Cout, 0.f, M + k * p.ksOut, (int)c.Cout);
    winogradOutput(c, p.tl, M, y, t0, t1, p.ksOut, spill, bias, act, alpha);
  });
}

// The filter gradient by Winograd F(3x3, 2x2) (the 2x2 tiles of dy play the filter, the 4x4 patches of x
// the input): dw[r][s] = sum over tiles of A^T [ (G dy G^T) . (B^T x B) ] A with
// A^T = [1 1 1 0; 0 1 -1 0; 0 1 1 1], G = [1 0; .5 .5; .5 -.5; 0 1], B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 -1 0 1].
// The sum over tiles is 16 gemms [Cin, tiles] x [tiles, Cout] per task; each task's 16 x Cin x Cout
// partial is added in task order, and the split depends on the shape only, as in convBackpropFilterTasks.

// D[k][t - t0][co] = (G g G^T)[i][j] for the 2x2 tiles g of dy (zero past the edge).
T2I_VECTOR void winogradDy(const Conv& c, const Tiles& tl, const float* dy, float* D, int64_t t0, int64_t t1, int64_t ks,
                           const float* zeros) {
  const int64_t Cout = c.Cout;
  for (int64_t t = t0; t < t1; t++) {
    int64_t b, th, tw;
    tl.at(t, b, th, tw);
    const float* g[2][2];
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 2; j++) {
        const int64_t oh = 2 * th + i, ow = 2 * tw + j;
        g[i][j] = oh < c.OH && ow < c.OW ? dy + ((b * c.OH + oh) * c.OW + ow) * Cout : zeros;
      }
    float* d = D + (t - t0) * Cout;
#pragma GCC ivdep
    for (int64_t co = 0; co < Cout; co++) {
      float u[4][2];
      for (int j = 0; j < 2; j++) {
        u[0][j] = g[0][j][co];
        u[1][j] = 0.5f * (g[0][j][co] + g[1][j][co]);
        u[2][j] = 0.5f * (g[0][j][co] - g[1][j][co]);
        u[3][j] = g[1][j][co];
      }
      for (int i = 0; i < 4; i++) {
        d[(i * 4 + 0) * ks + co] = u[i][0];
        d[(i * 4 + 1) * ks + co] = 0.5f * (u[i][0] + u[i][1]);
        d[(i * 4 + 2) * ks + co] = 0.5f * (u[i][0] - u[i][1]);
        d[(i * 4 + 3) * ks + co] = u[i][1];
      }
    }
  }
}

// dw[r][s][e] = (A^T P A)[r][s] for each e = (ci, co), P[k][e] the summed products.
T2I_VECTOR void winogradFilterGradOut(const float* P, float* dw, int64_t S) {
#pragma GCC ivdep
  for (int64_t e = 0; e < S; e++) {
    float p[4][4], q[3][4];
    for (int k = 0; k < 16; k++) p[k / 4][k % 4] = P[k * S + e];
    for (int j = 0; j < 4; j++) {
      q[0][j] = (p[0][j] + p[1][j]) + p[2][j];
      q[1][j] = p[1][j] - p[2][j];
      q[2][j] = (p[1][j] + p[2][j]) + p[3][j];
    }
    for (int r = 0; r < 3; r++) {
      dw[(r * 3 + 0) * S + e] = (q[r][0] + q[r][1]) + q[r][2];
      dw[(r * 3 + 1) * S + e] = q[r][1] - q[r][2];
      dw[(r * 3 + 2) * S + e] = (q[r][1] + q[r][2]) + q[r][3];
    }
  }
}

void convBackpropFilterWinograd(const Conv& c, const float* x, const float* dy, float* dw) {
  const WinogradPlan p(c);
  const int64_t S = p.S;
  std::vector<float> partial(p.nTasks * 16 * S);
  p.reserve(std::max(c.Cin, c.Cout));  // zeros for x and dy past the edge
  {
    runTasks(p.nTasks, p.threads, [&](int64_t i, int th) {
      const int64_t t0 = i * p.tt, t1 = std::min(p.tiles, t0 + p.tt), T = t1 - t0;
      float* V = p.scratch(th);
      float* D = V + 16 * p.ksIn;
      const float* zeros = D + 16 * p.ksOut;
      winogradInput<true>(c, p.tl, x, V, t0, t1, p.ksIn, zeros);
      winogradDy(c, p.tl, dy, D, t0, t1, p.ksOut, zeros);
      float* P = partial.data() + i * 16 * S;
      for (int k = 0; k < 16; k++)
        cblas_sgemm(RowMajor_, Trans_, NoTrans_, (int)c.Cin, (int)c.Cout, (int)T, 1.f, V + k * p.ksIn, (int)c.Cin,
                    D + k * p.ksOut, (int)c.Cout, 0.f, P + k * S, (int)c.Cout);
    });
  }
  float* P = partial.data();
  parallelFor(16 * S, 16 * S > 65536 ? p.threads : 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = 1; i < p.nTasks; i++) {
      const float* q = partial.data() + i * 16 * S;
      for (int64_t j = lo; j < hi; j++) P[j] += q[j];
    }
  });
  winogradFilterGradOut(P, dw, S);
}

// conv2d(heap, xOff, wOff, yOff, params:Int32Array(15), biasOff, act, alpha)
napi_value Conv2D(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t len = 0;
  uint8_t* heap = a.heap(0, &len);
  int64_t xOff = a.i64(1), wOff = a.i64(2), yOff = a.i64(3);
  Conv c;
  bool okc = readConv(a, 4, c);
  int64_t biasOff = a.i64(5);
  int act = (int)a.i64(6);
  float alpha = (float)a.num(7);
  if (throwIf(env, !a.ok || !okc, "t2i_native.conv2d: bad arguments")) return nullptr;
  const float* x = at(heap, len, xOff, c.B * c.H * c.W * c.Cin);
  const float* w = at(heap, len, wOff, c.patch() * c.Cout);
  float* y = at(heap, len, yOff, c.B * c.OH * c.OW * c.Cout);
  const float* bias = biasOff >= 0 ? at(heap, len, biasOff, c.Cout) : nullptr;
  if (throwIf(env, !x || !w || !y || (biasOff >= 0 && !bias), "t2i_native.conv2d: tensor out of heap")) return nullptr;
  const int64_t rowsPerImage = c.OH * c.OW, P = c.patch();
  if (c.pointwise()) {
    sgemmPar(false, false, c.B * rowsPerImage, c.Cout, c.Cin, x, c.Cin, w, c.Cout, 0.f, y, c.Cout, g_threads);
  } else if (g_winograd && winogradFits(c)) {
    convForwardWinograd(c, x, w, y, bias, act, alpha);
    return nullptr;
  } else if (g_convMode == 1 && c.B * rowsPerImage >= 2 * taskRows(c)) {  // chosen by shape, never thread count (see sgemmPar)
    convForwardTasks(c, x, w, y, bias, act, alpha);
    return nullptr;
  } else {
    int64_t ipc = imagesPerChunk(c);
    float* cols = scratch(ipc * rowsPerImage * P);
    for (int64_t b0 = 0; b0 < c.B; b0 += ipc) {
      int64_t b1 = std::min(c.B, b0 + ipc), r0 = b0 * rowsPerImage, r1 = b1 * rowsPerImage;
      parallelFor(r1 - r0, g_threads, [&](int64_t lo, int64_t hi) { im2col(c, x, cols + lo * P, r0 + lo, r0 + hi); });
      sgemmPar(false, false, r1 - r0, c.Cout, P, cols, P, w, c.Cout, 0.f, y + r0 * c.Cout, c.Cout, g_threads);
    }
  }
  if (bias || act != LINEAR) {
    int64_t rows = c.B * rowsPerImage;
    parallelFor(rows, rows * c.Cout > 65536 ? g_threads : 1,
                [&](int64_t lo, int64_t hi) { epilogue(y + lo * c.Cout, hi - lo, c.Cout, bias, act, alpha); });
  }
  return nullptr;
}

// conv2dBackpropInput(heap, dyOff, wOff, dxOff, params): dx = conv2d^T(dy, w).
napi_value Conv2DBackpropInput(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t len = 0;
  uint8_t* heap = a.heap(0, &len);
  int64_t dyOff = a.i64(1), wOff = a.i64(2), dxOff = a.i64(3);
  Conv c;
  bool okc = readConv(a, 4, c);
  if (throwIf(env, !a.ok || !okc, "t2i_native.conv2dBackpropInput: bad arguments")) return nullptr;
  const float* dy = at(heap, len, dyOff, c.B * c.OH * c.OW * c.Cout);
  const float* w = at(heap, len, wOff, c.patch() * c.Cout);
  float* dx = at(heap, len, dxOff, c.B * c.H * c.W * c.Cin);
  if (throwIf(env, !dy || !w || !dx, "t2i_native.conv2dBackpropInput: tensor out of heap")) return nullptr;
  const int64_t rowsPerImage = c.OH * c.OW, P = c.patch();
  if (c.pointwise()) {
    sgemmPar(false, true, c.B * rowsPerImage, c.Cin, c.Cout, dy, c.Cout, w, c.Cout, 0.f, dx, c.Cin, g_threads);
    return nullptr;
  }
  if (g_winograd && winograd3x3(c) && c.pt <= 2 && c.pl <= 2) {
    // dx is the forward convolution of dy with the filter turned 180 degrees and its channels swapped,
    // padded by 2 - pad: dx[ih] = sum_r dy[ih - (2 - pt) + r] w[2 - r].
    const Conv t{c.B, c.OH, c.OW, c.Cout, c.H, c.W, c.Cin, 3, 3, 1, 1, 1, 1, 2 - c.pt, 2 - c.pl};
    if (winogradFits(t) && winogradTiles(t) >= kWinogradGradTiles) {
      std::vector<float> wt(9 * c.Cin * c.Cout);
      for (int64_t k = 0; k < 9; k++)
        for (int64_t ci = 0; ci < c.Cin; ci++)
          for (int64_t co = 0; co < c.Cout; co++) wt[(k * c.Cout + co) * c.Cin + ci] = w[((8 - k) * c.Cin + ci) * c.Cout + co];
      convForwardWinograd(t, dy, wt.data(), dx, nullptr, LINEAR, 0.f);
      return nullptr;
    }
  }
  if (g_convMode == 1 && c.B >= 4) {  // chosen by shape, never thread count (see sgemmPar)
    convBackpropInputTasks(c, dy, w, dx);
    return nullptr;
  }
  std::fill(dx, dx + c.B * c.H * c.W * c.Cin, 0.f);
  int64_t ipc = imagesPerChunk(c);
  float* dcols = scratch(ipc * rowsPerImage * P);
  for (int64_t b0 = 0; b0 < c.B; b0 += ipc) {
    int64_t b1 = std::min(c.B, b0 + ipc), r0 = b0 * rowsPerImage, r1 = b1 * rowsPerImage;
    // dcols (rows x P) = dy (rows x Cout) * w^T (Cout x P)
    sgemmPar(false, true, r1 - r0, P, c.Cout, dy + r0 * c.Cout, c.Cout, w, c.Cout, 0.f, dcols, P, g_threads);
    // Images do not overlap: split them across threads.
    parallelFor(b1 - b0, g_threads, [&](int64_t lo, int64_t hi) { col2im(c, dcols, dx, b0 + lo, b0 + hi, r0); });
  }
  return nullptr;
}

// conv2dBackpropFilter(heap, xOff, dyOff, dwOff, params): dw = im2col(x)^T dy.
napi_value Conv2DBackpropFilter(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t len = 0;
  uint8_t* heap = a.heap(0, &len);
  int64_t xOff = a.i64(1), dyOff = a.i64(2), dwOff = a.i64(3);
  Conv c;
  bool okc = readConv(a, 4, c);
  if (throwIf(env, !a.ok || !okc, "t2i_native.conv2dBackpropFilter: bad arguments")) return nullptr;
  const float* x = at(heap, len, xOff, c.B * c.H * c.W * c.Cin);
  const float* dy = at(heap, len, dyOff, c.B * c.OH * c.OW * c.Cout);
  float* dw = at(heap, len, dwOff, c.patch() * c.Cout);
  if (throwIf(env, !x || !dy || !dw, "t2i_native.conv2dBackpropFilter: tensor out of heap")) return nullptr;
  const int64_t rowsPerImage = c.OH * c.OW, P = c.patch();
  if (c.B * rowsPerImage == 0) {
    std::fill(dw, dw + P * c.Cout, 0.f);
    return nullptr;
  }
  if (c.pointwise()) {
    sgemmPar(true, false, c.Cin, c.Cout, c.B * rowsPerImage, x, c.Cin, dy, c.Cout, 0.f, dw, c.Cout, g_threads);
    return nullptr;
  }
  if (g_winograd && winogradFits(c) && winogradTiles(c) >= kWinogradGradTiles) {
    convBackpropFilterWinograd(c, x, dy, dw);
    return nullptr;
  }
  if (g_convMode == 1) {
    convBackpropFilterTasks(c, x, dy, dw);
    return nullptr;
  }
  int64_t ipc = imagesPerChunk(c);
  float* cols = scratch(ipc * rowsPerImage * P);
  for (int64_t b0 = 0; b0 < c.B; b0 += ipc) {
    int64_t b1 = std::min(c.B, b0 + ipc), r0 = b0 * rowsPerImage, r1 = b1 * rowsPerImage;
    parallelFor(r1 - r0, g_threads, [&](int64_t lo, int64_t hi) { im2col(c, x, cols + lo * P, r0 + lo, r0 + hi); });
    // dw (P x Cout) (+)= cols^T (P x rows) * dy (rows x Cout)
    sgemmPar(true, false, P, c.Cout, r1 - r0, cols, P, dy + r0 * c.Cout, c.Cout, b0 == 0 ? 0.f : 1.f, dw, c.Cout, g_threads);
  }
  return nullptr;
}

// ---- elementwise binary ops with broadcasting ---------------------------------------
// binary(heap, op, aOff, bOff, outOff, shape:Float64Array, aStrides:Float64Array, bStrides:Float64Array):
// out[i] = a[i] op b[i] over `shape` (row-major, already collapsed), each input read through its own
// element strides (0 on broadcast axes). op: 0 add, 1 sub, 2 mul, 3 div. One float32 operation per element,
// so the numbers equal the wasm backend's; the outer index is split across threads.
enum BinOp { ADD = 0, SUB = 1, MUL = 2, DIV = 3 };

template <int OP>
inline void binaryRow(const float* a, int64_t sa, const float* b, int64_t sb, float* o, int64_t n) {
  auto f = [](float x, float y) { return OP == ADD ? x + y : OP == SUB ? x - y : OP == MUL ? x * y : x / y; };
  if (sa == 1 && sb == 1)
    for (int64_t j = 0; j < n; j++) o[j] = f(a[j], b[j]);
  else if (sa == 1 && sb == 0) {
    const float y = b[0];
    for (int64_t j = 0; j < n; j++) o[j] = f(a[j], y);
  } else if (sa == 0 && sb == 1) {
    const float x = a[0];
    for (int64_t j = 0; j < n; j++) o[j] = f(x, b[j]);
  } else
    for (int64_t j = 0; j < n; j++) o[j] = f(a[j * sa], b[j * sb]);
}

template <int OP>
void binaryAll(const float* a, const float* b, float* o, const std::vector<int64_t>& shape, const std::vector<int64_t>& sa,
               const std::vector<int64_t>& sb) {
  const int nd = (int)shape.size();
  const int64_t inner = shape[nd - 1];
  int64_t outer = 1;
  for (int d = 0; d < nd - 1; d++) outer *= shape[d];
  parallelFor(outer, outer * inner >= (1 << 16) ? g_threads : 1, [&](int64_t lo, int64_t hi) {
    std::vector<int64_t> idx(nd, 0);
    int64_t ao = 0, bo = 0;
    for (int64_t r = lo, d = nd - 2; d >= 0; d--) {  // the multi-index of row lo
      idx[d] = r % shape[d];
      r /= shape[d];
      ao += idx[d] * sa[d];
      bo += idx[d] * sb[d];
    }
    for (int64_t r = lo; r < hi; r++) {
      binaryRow<OP>(a + ao, sa[nd - 1], b + bo, sb[nd - 1], o + r * inner, inner);
      for (int d = nd - 2; d >= 0; d--) {  // next row
        ao += sa[d];
        bo += sb[d];
        if (++idx[d] < shape[d]) break;
        ao -= shape[d] * sa[d];
        bo -= shape[d] * sb[d];
        idx[d] = 0;
      }
    }
  });
}

napi_value Binary(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t len = 0;
  uint8_t* heap = a.heap(0, &len);
  int op = (int)a.i64(1);
  int64_t aOff = a.i64(2), bOff = a.i64(3), oOff = a.i64(4);
  size_t nd = 0, nsa = 0, nsb = 0;
  double* shp = a.typed<double>(5, napi_float64_array, &nd);
  double* psa = a.typed<double>(6, napi_float64_array, &nsa);
  double* psb = a.typed<double>(7, napi_float64_array, &nsb);
  if (throwIf(env, !a.ok || nd == 0 || nsa != nd || nsb != nd || op < 0 || op > 3, "t2i_native.binary: bad arguments")) return nullptr;
  std::vector<int64_t> shape(nd), sa(nd), sb(nd);
  int64_t total = 1, aSpan = 1, bSpan = 1;
  for (size_t d = 0; d < nd; d++) {
    shape[d] = (int64_t)shp[d];
    sa[d] = (int64_t)psa[d];
    sb[d] = (int64_t)psb[d];
    if (throwIf(env, shape[d] <= 0 || sa[d] < 0 || sb[d] < 0, "t2i_native.binary: bad shape or strides")) return nullptr;
    total *= shape[d];
    aSpan += (shape[d] - 1) * sa[d];
    bSpan += (shape[d] - 1) * sb[d];
  }
  const float* x = at(heap, len, aOff, aSpan);
  const float* y = at(heap, len, bOff, bSpan);
  float* o = at(heap, len, oOff, total);
  if (throwIf(env, !x || !y || !o, "t2i_native.binary: tensor out of heap")) return nullptr;
  switch (op) {
    case ADD: binaryAll<ADD>(x, y, o, shape, sa, sb); break;
    case SUB: binaryAll<SUB>(x, y, o, shape, sa, sb); break;
    case MUL: binaryAll<MUL>(x, y, o, shape, sa, sb); break;
    default: binaryAll<DIV>(x, y, o, shape, sa, sb); break;
  }
  return nullptr;
}

// ---- concat and split ------------------------------------------------------------------
// concat(heap, offsets:Float64Array, rowLengths:Float64Array, rows, wholeOff): row r of the whole is piece 0's
// row r, then piece 1's row r, ... (a concat along any axis, rows = the product of the axes before it).
// split(heap, wholeOff, offsets, rowLengths, rows): the inverse, concat's gradient.
template <bool TO_WHOLE>
napi_value CopyRows(napi_env env, napi_callback_info info, const char* what) {
  Args a(env, info);
  size_t len = 0;
  uint8_t* heap = a.heap(0, &len);
  size_t n = 0, nl = 0;
  const size_t o = TO_WHOLE ? 1 : 2;  // where the pieces' offsets are
  double* offs = a.typed<double>(o, napi_float64_array, &n);
  double* lens = a.typed<double>(o + 1, napi_float64_array, &nl);
  int64_t rows = a.i64(TO_WHOLE ? 3 : 4), wholeOff = a.i64(TO_WHOLE ? 4 : 1);
  if (throwIf(env, !a.ok || n != nl || rows < 0, what)) return nullptr;
  int64_t width = 0;
  std::vector<float*> pieces(n);
  for (size_t i = 0; i < n; i++) {
    pieces[i] = at(heap, len, (int64_t)offs[i], rows * (int64_t)lens[i]);
    if (throwIf(env, !pieces[i], what)) return nullptr;
    width += (int64_t)lens[i];
  }
  float* whole = at(heap, len, wholeOff, rows * width);
  if (throwIf(env, !whole, what)) return nullptr;
  parallelFor(rows, rows * width >= (1 << 16) ? g_threads : 1, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; r++) {
      float* w = whole + r * width;
      for (size_t i = 0; i < n; i++) {
        const int64_t l = (int64_t)lens[i];
        float* p = pieces[i] + r * l;
        std::memcpy(TO_WHOLE ? w : p, TO_WHOLE ? p : w, l * sizeof(float));
        w += l;
      }
    }
  });
  return nullptr;
}

napi_value Concat(napi_env env, napi_callback_info info) { return CopyRows<true>(env, info, "t2i_native.concat: bad arguments or tensor out of heap"); }
napi_value Split(napi_env env, napi_callback_info info) { return CopyRows<false>(env, info, "t2i_native.split: bad arguments or tensor out of heap"); }

// ---- Adam -----------------------------------------------------------------------
// adam(heap, wOff, gOff, mOff, vOff, wOutOff, mOutOff, vOutOff, n, beta1, beta2, c1, c2, eps, negLr): one pass
// of tf.train.adam's update, op for op in float32 (no fused multiply-add), so the numbers equal tfjs's 14
// separate kernels:
//   m' = b1 m + (1 - b1) g,  v' = b2 v + (1 - b2) g^2,  w' = (m' / c1) / (sqrt(v' / c2) + eps) * (-lr) + w
// with c1 = 1 - b1^t, c2 = 1 - b2^t (as float32). beta1 and beta2 come as the doubles JS holds, so that
// 1 - beta rounds to the same float32 as tfjs's scalar(1 - beta). Outputs are fresh tensors: an input's
// memory may be shared with other tensors.
napi_value Adam(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t len = 0;
  uint8_t* heap = a.heap(0, &len);
  const int64_t n = a.i64(8);
  const double beta1 = a.num(9), beta2 = a.num(10);
  const float b1 = (float)beta1, omb1 = (float)(1.0 - beta1), b2 = (float)beta2, omb2 = (float)(1.0 - beta2);
  const float c1 = (float)a.num(11), c2 = (float)a.num(12), eps = (float)a.num(13), negLr = (float)a.num(14);
  if (throwIf(env, !a.ok || n < 0, "t2i_native.adam: bad arguments")) return nullptr;
  const float* w = at(heap, len, a.i64(1), n);
  const float* g = at(heap, len, a.i64(2), n);
  const float* m = at(heap, len, a.i64(3), n);
  const float* v = at(heap, len, a.i64(4), n);
  float* wo = at(heap, len, a.i64(5), n);
  float* mo = at(heap, len, a.i64(6), n);
  float* vo = at(heap, len, a.i64(7), n);
  if (throwIf(env, !w || !g || !m || !v || !wo || !mo || !vo, "t2i_native.adam: tensor out of heap")) return nullptr;
  parallelFor(n, n >= (1 << 17) ? g_threads : 1, [&](int64_t lo, int64_t hi) {
    // float arithmetic rounds every step to float32 (SSE; binding.gyp turns off contraction into FMA)
    for (int64_t i = lo; i < hi; i++) {
      const float gi = g[i];
      const float nm = m[i] * b1 + gi * omb1;
      const float nv = v[i] * b2 + (gi * gi) * omb2;
      const float den = std::sqrt(nv / c2) + eps;
      mo[i] = nm;
      vo[i] = nv;
      wo[i] = ((nm / c1) / den) * negLr + w[i];
    }
  });
  return nullptr;
}

// ---- GroupNorm (+ SiLU): forward, and its gradient -------------------------------
// The per-image loops run over contiguous channels so that they vectorise (T2I_VECTOR: an AVX2 clone).

// sigmoid(y) = 1 / (1 + exp(-y)) over a row, eight lanes at a time (GCC vector extensions, so the AVX2
// clone runs them as one 256-bit op and the default clone as two SSE ops; the clamps are vector selects,
// which plain float code would turn into branches). exp is Cephes' expf: x = n ln2 + r, |r| <= ln2 / 2,
// a degree-6 polynomial for e^r, 2^n from the exponent bits; x is clamped to [-87.3, 88.3], where 2^n
// stays a normal float. Against a double exp over every float in [-87, 88] its relative error was at
// most 8.2e-8 (under one float ulp). The tail of the row takes the same steps one lane at a time.
typedef float F8 __attribute__((vector_size(32)));
typedef int32_t I8 __attribute__((vector_size(32)));

// Always inlined: they take and return 256-bit vectors, which must not cross a call between the
// default and the AVX2 clones.
#define T2I_INLINE inline __attribute__((always_inline))

T2I_INLINE F8 splat(float v) { return F8{v, v, v, v, v, v, v, v}; }

T2I_INLINE F8 expF8(F8 x) {
  x = x > splat(-87.3f) ? x : splat(-87.3f);
  x = x < splat(88.3f) ? x : splat(88.3f);
  const F8 t = x * 1.44269504088896341f + 0.5f;
  F8 n = __builtin_convertvector(__builtin_convertvector(t, I8), F8);  // truncation,
  n = t < n ? n - 1.0f : n;                                            // then floor
  const F8 r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  F8 p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const F8 e = (p * (r * r) + r) + 1.0f;
  const I8 bits = (__builtin_convertvector(n, I8) + 127) << 23;
  return e * (F8)bits;
}

// 1 / (1 + exp(-v)), and 0 below -88.3 (where exp(-v) overflows float; the clamp alone would leave ~4e-39).
T2I_INLINE F8 sigmoidF8(F8 v) {
  const F8 r = 1.0f / (1.0f + expF8(-v));
  return v < splat(-88.3f) ? splat(0.f) : r;
}

T2I_INLINE void sigmoidRow(const float* y, float* s, int64_t n) {
  int64_t c = 0;
  for (; c + 8 <= n; c += 8) {
    F8 v;
    std::memcpy(&v, y + c, 32);
    const F8 r = sigmoidF8(v);
    std::memcpy(s + c, &r, 32);
  }
  if (c < n) {
    F8 v = splat(0.f);
    std::memcpy(&v, y + c, 4 * (n - c));
    const F8 r = sigmoidF8(v);
    std::memcpy(s + c, &r, 4 * (n - c));
  }
}

// One image of groupNorm. acc, sq: C doubles of scratch; scale, shift, sig: C floats of scratch;
// stats: G x 2 or null.
T2I_VECTOR void groupNormImage(const float* xb, float* yb, const float* gamma, const float* beta, int64_t HW, int64_t C,
                               int64_t G, double eps, bool silu, float* stats, double* acc, double* sq, float* scale,
                               float* shift, float* sig) {
  const int64_t cg = C / G;
  const double count = (double)(HW * cg);
  for (int64_t c = 0; c < C; c++) acc[c] = sq[c] = 0.0;
  for (int64_t p = 0; p < HW; p++) {
    const float* xr = xb + p * C;
    for (int64_t c = 0; c < C; c++) acc[c] += (double)xr[c];
  }
  for (int64_t g = 0; g < G; g++) {  // acc[c] becomes its group's mean
    double s = 0;
    for (int64_t c = g * cg; c < (g + 1) * cg; c++) s += acc[c];
    for (int64_t c = g * cg; c < (g + 1) * cg; c++) acc[c] = s / count;
  }
  for (int64_t p = 0; p < HW; p++) {
    const float* xr = xb + p * C;
    for (int64_t c = 0; c < C; c++) {
      const double d = (double)xr[c] - acc[c];
      sq[c] += d * d;
    }
  }
  for (int64_t g = 0; g < G; g++) {
    double s = 0;
    for (int64_t c = g * cg; c < (g + 1) * cg; c++) s += sq[c];
    const double mean = acc[g * cg], r = 1.0 / std::sqrt(s / count + eps);
    if (stats) {
      stats[g * 2] = (float)mean;
      stats[g * 2 + 1] = (float)r;
    }
    for (int64_t c = g * cg; c < (g + 1) * cg; c++) {
      scale[c] = (float)(gamma[c] * r);
      shift[c] = (float)(beta[c] - mean * gamma[c] * r);
    }
  }
  for (int64_t p = 0; p < HW; p++) {
    const float* xr = xb + p * C;
    float* yr = yb + p * C;
    for (int64_t c = 0; c < C; c++) yr[c] = xr[c] * scale[c] + shift[c];
    if (silu) {
      sigmoidRow(yr, sig, C);
      for (int64_t c = 0; c < C; c++) yr[c] = yr[c] * sig[c];
    }
  }
}

// groupNorm(heap, xOff, gammaOff, betaOff, yOff, B, HW, C, G, eps, silu, statsOff)
// x, y: [B, HW, C] (NHWC); gamma, beta: [C]; groups of C / G channels. Per image b and group g:
//   mean = sum(x) / n,  var = sum((x - mean)^2) / n  over the n = HW * C / G values,
//   y = (x - mean) * (gamma[c] / sqrt(var + eps)) + beta[c],  then y * sigmoid(y) when silu != 0.
// The sums are doubles, taken by one thread per image in a fixed order, so the result does not depend
// on the thread count. Three passes over x instead of the ten or so of the composed ops. With statsOff
// >= 0 it also writes stats [B, G, 2] = (mean, 1 / sqrt(var + eps)) as floats, for groupNormGrad.
napi_value GroupNorm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t len = 0;
  uint8_t* heap = a.heap(0, &len);
  const int64_t B = a.i64(5), HW = a.i64(6), C = a.i64(7), G = a.i64(8);
  const double eps = a.num(9);
  const bool silu = a.i64(10) != 0;
  if (throwIf(env, !a.ok || B < 0 || HW < 1 || C < 1 || G < 1 || C % G != 0, "t2i_native.groupNorm: bad arguments")) return nullptr;
  const int64_t n = B * HW * C;
  const float* x = at(heap, len, a.i64(1), n);
  const float* gamma = at(heap, len, a.i64(2), C);
  const float* beta = at(heap, len, a.i64(3), C);
  float* y = at(heap, len, a.i64(4), n);
  const int64_t statsOff = a.argc > 11 ? a.i64(11) : -1;
  float* stats = statsOff >= 0 ? at(heap, len, statsOff, B * G * 2) : nullptr;
  if (throwIf(env, !x || !gamma || !beta || !y || (statsOff >= 0 && !stats), "t2i_native.groupNorm: tensor out of heap")) return nullptr;
  parallelFor(B, n >= (1 << 16) ? g_threads : 1, [&](int64_t lo, int64_t hi) {
    std::vector<double> acc(C), sq(C);
    std::vector<float> scale(C), shift(C), sig(C);
    for (int64_t b = lo; b < hi; b++)
      groupNormImage(x + b * HW * C, y + b * HW * C, gamma, beta, HW, C, G, eps, silu, stats ? stats + b * G * 2 : nullptr,
                     acc.data(), sq.data(), scale.data(), shift.data(), sig.data());
  });
  return nullptr;
}

// One image of groupNormGrad. pgb, pbb: this image's C partials of dgamma, dbeta (written);
// mc, rc, a1, a2, yrow, sig: C floats of scratch.
T2I_VECTOR void groupNormGradImage(const float* dzb, const float* xb, float* dxb, const float* gamma, const float* beta,
                                   const float* st, int64_t HW, int64_t C, int64_t G, bool silu, double* pgb, double* pbb,
                                   float* mc, float* rc, float* a1, float* a2, float* yrow, float* sig) {
  const int64_t cg = C / G;
  const double count = (double)(HW * cg);
  for (int64_t c = 0; c < C; c++) {
    mc[c] = st[(c / cg) * 2];
    rc[c] = st[(c / cg) * 2 + 1];
    pgb[c] = pbb[c] = 0.0;
  }
  // Pass 1: dy into dx, and the channel sums of dy xhat and dy.
  for (int64_t p = 0; p < HW; p++) {
    const float* xr = xb + p * C;
    const float* dzr = dzb + p * C;
    float* dxr = dxb + p * C;
    if (silu) {
      for (int64_t c = 0; c < C; c++) yrow[c] = (xr[c] - mc[c]) * rc[c] * gamma[c] + beta[c];
      sigmoidRow(yrow, sig, C);
      for (int64_t c = 0; c < C; c++) {
        const float xh = (xr[c] - mc[c]) * rc[c];
        const float y = yrow[c], sg = sig[c];
        const float d = dzr[c] * (sg + y * sg * (1.0f - sg));
        dxr[c] = d;
        pgb[c] += (double)d * xh;
        pbb[c] += (double)d;
      }
    } else
      for (int64_t c = 0; c < C; c++) {
        const float xh = (xr[c] - mc[c]) * rc[c];
        const float d = dzr[c];
        dxr[c] = d;
        pgb[c] += (double)d * xh;
        pbb[c] += (double)d;
      }
  }
  // The group means of dxhat = dy gamma and of dxhat xhat, from the channel sums.
  for (int64_t g = 0; g < G; g++) {
    double s1 = 0, s2 = 0;
    for (int64_t c = g * cg; c < (g + 1) * cg; c++) {
      s1 += pbb[c] * gamma[c];
      s2 += pgb[c] * gamma[c];
    }
    for (int64_t c = g * cg; c < (g + 1) * cg; c++) {
      a1[c] = (float)(s1 / count);
      a2[c] = (float)(s2 / count);
    }
  }
  // Pass 2: dx from dy (in place).
  for (int64_t p = 0; p < HW; p++) {
    const float* xr = xb + p * C;
    float* dxr = dxb + p * C;
    for (int64_t c = 0; c < C; c++) {
      const float xh = (xr[c] - mc[c]) * rc[c];
      dxr[c] = rc[c] * ((dxr[c] * gamma[c] - a1[c]) - xh * a2[c]);
    }
  }
}

// groupNormGrad(heap, dzOff, xOff, gammaOff, betaOff, statsOff, dxOff, dgammaOff, dbetaOff, B, HW, C, G, silu)
// The gradient of groupNorm (with the stats its forward wrote). With xhat = (x - mean) rstd and
// y = xhat gamma + beta, z = silu ? y sigmoid(y) : y:
//   dy = silu ? dz (s + y s (1 - s)), s = sigmoid(y) : dz;   dxhat = dy gamma
//   dx = rstd (dxhat - mean_g(dxhat) - xhat mean_g(dxhat xhat))   (means over each image's group)
//   dgamma[c] = sum over images and pixels of dy xhat,  dbeta[c] = sum of dy.
// The group means come from the per-channel sums (mean_g(dxhat) = sum_c gamma[c] sum_p dy / n).
// One image per thread; dgamma and dbeta are per-image partials (doubles) added in image order, so the
// result does not depend on the thread count.
napi_value GroupNormGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t len = 0;
  uint8_t* heap = a.heap(0, &len);
  const int64_t B = a.i64(9), HW = a.i64(10), C = a.i64(11), G = a.i64(12);
  const bool silu = a.i64(13) != 0;
  if (throwIf(env, !a.ok || B < 1 || HW < 1 || C < 1 || G < 1 || C % G != 0, "t2i_native.groupNormGrad: bad arguments")) return nullptr;
  const int64_t n = B * HW * C;
  const float* dz = at(heap, len, a.i64(1), n);
  const float* x = at(heap, len, a.i64(2), n);
  const float* gamma = at(heap, len, a.i64(3), C);
  const float* beta = at(heap, len, a.i64(4), C);
  const float* stats = at(heap, len, a.i64(5), B * G * 2);
  float* dx = at(heap, len, a.i64(6), n);
  float* dgamma = at(heap, len, a.i64(7), C);
  float* dbeta = at(heap, len, a.i64(8), C);
  if (throwIf(env, !dz || !x || !gamma || !beta || !stats || !dx || !dgamma || !dbeta, "t2i_native.groupNormGrad: tensor out of heap")) return nullptr;
  std::vector<double> pg(B * C, 0.0), pb(B * C, 0.0);  // per-image partials of dgamma, dbeta
  parallelFor(B, n >= (1 << 16) ? g_threads : 1, [&](int64_t lo, int64_t hi) {
    std::vector<float> scratch(6 * C);
    float* s = scratch.data();
    for (int64_t b = lo; b < hi; b++)
      groupNormGradImage(dz + b * HW * C, x + b * HW * C, dx + b * HW * C, gamma, beta, stats + b * G * 2, HW, C, G, silu,
                         pg.data() + b * C, pb.data() + b * C, s, s + C, s + 2 * C, s + 3 * C, s + 4 * C, s + 5 * C);
  });
  for (int64_t c = 0; c < C; c++) {
    double sg = 0, sb = 0;
    for (int64_t b = 0; b < B; b++) {
      sg += pg[b * C + c];
      sb += pb[b * C + c];
    }
    dgamma[c] = (float)sg;
    dbeta[c] = (float)sb;
  }
  return nullptr;
}

// ---- configuration -------------------------------------------------------------
napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int n = (int)a.i64(0);
  if (throwIf(env, !a.ok || n < 1, "t2i_native.setThreads: need a positive count")) return nullptr;
  g_threads = n;
  return nullptr;
}

napi_value SetChunkBytes(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int64_t n = a.i64(0);
  if (throwIf(env, !a.ok || n < 4096, "t2i_native.setChunkBytes: need >= 4096")) return nullptr;
  g_chunkBytes = n;
  return nullptr;
}

// setConvMode(mode, taskBytes, winograd): 1 task-parallel, 0 one gemm over big chunks, cut over the pool;
// winograd 1 (default) or 0.
napi_value SetConvMode(napi_env env, napi_callback_info info) {
  Args a(env, info);
  int mode = (int)a.i64(0);
  int64_t tb = a.argc > 1 ? a.i64(1) : g_taskBytes;
  int wino = a.argc > 2 ? (int)a.i64(2) : g_winograd;
  if (throwIf(env, !a.ok || (mode != 0 && mode != 1) || tb < 4096 || (wino != 0 && wino != 1), "t2i_native.setConvMode: bad arguments")) return nullptr;
  g_convMode = mode;
  g_taskBytes = tb;
  g_winograd = wino;
  return nullptr;
}

napi_value Info(napi_env env, napi_callback_info) {
  napi_value o, v;
  CHECK(napi_create_object(env, &o));
  CHECK(napi_create_int32(env, openblas_get_num_threads(), &v));
  CHECK(napi_set_named_property(env, o, "blasThreads", v));
  CHECK(napi_create_int32(env, g_threads, &v));
  CHECK(napi_set_named_property(env, o, "loopThreads", v));
  const char* cfg = openblas_get_config();
  CHECK(napi_create_string_utf8(env, cfg ? cfg : "", NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, o, "config", v));
  const char* core = openblas_get_corename();
  CHECK(napi_create_string_utf8(env, core ? core : "", NAPI_AUTO_LENGTH, &v));
  CHECK(napi_set_named_property(env, o, "core", v));
  CHECK(napi_create_double(env, (double)g_chunkBytes, &v));
  CHECK(napi_set_named_property(env, o, "chunkBytes", v));
  CHECK(napi_create_int32(env, g_convMode, &v));
  CHECK(napi_set_named_property(env, o, "convMode", v));
  CHECK(napi_create_double(env, (double)g_taskBytes, &v));
  CHECK(napi_set_named_property(env, o, "taskBytes", v));
  CHECK(napi_create_int32(env, g_winograd, &v));
  CHECK(napi_set_named_property(env, o, "winograd", v));
  return o;
}

napi_value Init(napi_env env, napi_value exports) {
  // OpenBLAS's default thread count (OPENBLAS_NUM_THREADS, else the cores), read once per process
  // before OpenBLAS is set to one thread: a second load (a worker thread's) must not read that 1.
  static const int defaultThreads = std::max(1, openblas_get_num_threads());
  g_threads = defaultThreads;
  openblas_set_num_threads(1);
  if (const char* spin = std::getenv("T2I_POOL_SPIN_US")) g_poolSpinUs = std::max<int64_t>(0, std::atoll(spin));
  struct {
    const char* name;
    napi_callback cb;
  } fns[] = {{"gemm", Gemm},
             {"conv2d", Conv2D},
             {"conv2dBackpropInput", Conv2DBackpropInput},
             {"conv2dBackpropFilter", Conv2DBackpropFilter},
             {"adam", Adam},
             {"binary", Binary},
             {"concat", Concat},
             {"split", Split},
             {"groupNorm", GroupNorm},
             {"groupNormGrad", GroupNormGrad},
             {"setThreads", SetThreads},
             {"setChunkBytes", SetChunkBytes},
             {"setConvMode", SetConvMode},
             {"info", Info}};
  for (auto& f : fns) {
    napi_value fn;
    CHECK(napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.cb, nullptr, &fn));
    CHECK(napi_set_named_property(env, exports, f.name, fn));
  }
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
