// CPU scaled dot-product attention, fused and tiled as FlashAttention-2 (Dao, 2023). The scores
// exist only one [query block, key block] tile at a time: the forward keeps a running row max and
// row sum (online softmax) and rescales its output accumulator when the max grows; the backward
// recomputes each tile's probabilities from the saved row log-sum-exp. The two products of a
// tile are OpenBLAS calls on the operands' own rows (a block of rows of a contiguous head is a
// plain matrix with the head's leading dimension), so nothing is packed or copied per tile.
//
// Work is split into independent tasks that own their outputs: a (batch, head, query block) in
// the forward, a (batch, key/value head) in the backward, which then owns dK and dV of that head
// and dQ of the query heads reading it (with at most half as many such heads as threads, the
// backward runs as two passes of smaller tasks instead, see backward_typed), so nothing is reduced
// across threads and the result has the same bits whatever the thread count. Threads pull tasks
// from a shared counter (causal query blocks cost in proportion to their index, so a static split
// would be uneven), the costliest first.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>

#include "backends/cpu/blas.h"
#include "backends/cpu/cpu_levels.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/parallel.h"
#include "backends/fast_math.h"
#include "core/dispatch.h"

namespace mixgrad::cpu {

namespace {

using kernels::AttentionParams;

// Tile sizes (rows of queries x rows of keys): a 64 x 128 float tile is 32 KiB, so the tile and
// the operands' rows stay in L2 while both products and the softmax run over them. Measured
// (D = 64, float32, causal, 1 thread, CPU time) over query blocks of 32-256 and key blocks of
// 64-512: 64 x 128 and 32 x 256 gave the fastest forward (36 / 35 ms at [8, 8, 512, 64],
// 245 / 249 ms at [1, 8, 4096, 64]; the other shapes 39-49 and 253-294 ms); the backward moved
// by under 10%.
constexpr int64_t kQueryBlock = 64;
constexpr int64_t kKeyBlock = 128;
// Multiply-adds below which a call stays on the calling thread (a parallel region costs a few
// microseconds).
constexpr int64_t kParallelWork = int64_t{1} << 18;

struct Geometry {
  int64_t batch = 0, heads = 0, kv_heads = 0, group = 1;
  int64_t tq = 0, tk = 0, d = 0, dv = 0;
  int64_t query_blocks() const { return (tq + kQueryBlock - 1) / kQueryBlock; }
};

Geometry geometry_of(const Tensor& q, const Tensor& k, const Tensor& v) {
  Geometry g;
  g.batch = q.size(0);
  g.heads = q.size(1);
  g.kv_heads = k.size(1);
  g.group = g.kv_heads > 0 ? g.heads / g.kv_heads : 1;
  g.tq = q.size(2);
  g.tk = k.size(2);
  g.d = q.size(3);
  g.dv = v.size(3);
  blas_int("attention", g.d);
  blas_int("attention", g.dv);
  return g;
}

// The mask [B, H, Tq, Tk] read through its strides (0 along broadcast dims).
struct MaskView {
  const void* data = nullptr;
  bool boolean = false;
  int64_t sb = 0, sh = 0, sq = 0, sk = 0;
};

MaskView mask_view(const Tensor& mask) {
  MaskView m;
  if (!mask.defined()) return m;
  m.data = mask.data_ptr();
  m.boolean = mask.dtype() == DType::Bool;
  m.sb = mask.stride(0);
  m.sh = mask.stride(1);
  m.sq = mask.stride(2);
  m.sk = mask.stride(3);
  return m;
}

// Threads for `tasks` independent tasks totalling `work` multiply-adds.
int64_t worker_count(int64_t tasks, int64_t work) {
  if (in_parallel() || work < kParallelWork) return 1;
  return std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), tasks));
}

// c = alpha op(a) op(b) + beta c (row-major). BLAS rejects a leading dimension of 0, which an
// empty feature dim gives, so empty products are done here.
template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return;
  }
  blas_gemm<T>(ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
               static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b,
               static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

// Adds the mask to a score tile s [rows, cols] (leading dimension ld) of queries i0.. and keys
// j0.. of (b, h); a false bool entry blocks its key.
template <class T>
void apply_mask(T* s, int64_t ld, int64_t rows, int64_t cols, const MaskView& m, int64_t b,
                int64_t h, int64_t i0, int64_t j0) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  const int64_t base = b * m.sb + h * m.sh + i0 * m.sq + j0 * m.sk;
  for (int64_t r = 0; r < rows; ++r) {
    T* row = s + r * ld;
    if (m.boolean) {
      const bool* mr = static_cast<const bool*>(m.data) + base + r * m.sq;
      for (int64_t c = 0; c < cols; ++c) row[c] = mr[c * m.sk] ? row[c] : kNegInf;
    } else {
      const T* mr = static_cast<const T*>(m.data) + base + r * m.sq;
      for (int64_t c = 0; c < cols; ++c) row[c] += mr[c * m.sk];
    }
  }
}

// Blocks keys j > i in a tile of queries i0.. and keys j0.. (PyTorch's is_causal).
template <class T>
void apply_causal(T* s, int64_t ld, int64_t rows, int64_t cols, int64_t i0, int64_t j0) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t first_hidden = std::max<int64_t>(0, i0 + r - j0 + 1);
    if (first_hidden < cols) std::fill(s + r * ld + first_hidden, s + r * ld + cols, kNegInf);
  }
}

// Whether a tile of queries i0.. and keys j0.. (cols of them) has keys after some of its queries.
bool crosses_diagonal(int64_t i0, int64_t j0, int64_t cols) {
  return j0 + cols - 1 > i0;
}

#define MG_ATTENTION_INLINE inline __attribute__((always_inline))

// e^x for the arguments the softmax sees (x <= 0 up to rounding, -inf for blocked keys). In float
// the vectorizable polynomial of fast_math.h (2 ulp), exactly 0 below its range (so a blocked key
// weighs nothing) and NaN for NaN (so NaN inputs still show in the output).
template <class T>
MG_ATTENTION_INLINE T exp_score(T x) {
  if constexpr (std::is_same_v<T, float>) {
    // A factor rather than a select of e: GCC sinks the polynomial into the taken side of a
    // select, and the branch it leaves keeps the loops scalar.
    return kernels::exp_approx(x) * (x < -87.0f ? 0.0f : (x == x ? 1.0f : x));
  } else {
    return std::exp(x);
  }
}

// Online softmax over one more key block: s [rows, cols] becomes exp(s - m_new) with m_new the
// running row max including this block; l (the running row sum) is rescaled to m_new and gets
// this block's sum; alpha receives e^(m_old - m_new), the factor the output accumulator must be
// scaled by. A row with every key so far blocked keeps m = -inf, l = 0 and weighs nothing.
template <class T>
MG_ATTENTION_INLINE void online_softmax_block(T* s, int64_t ld, int64_t rows, int64_t cols, T* m,
                                              T* l, T* alpha) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  for (int64_t r = 0; r < rows; ++r) {
    T* row = s + r * ld;
    T block_max = kNegInf;
#pragma omp simd reduction(max : block_max)
    for (int64_t c = 0; c < cols; ++c) block_max = row[c] > block_max ? row[c] : block_max;
    const T m_new = m[r] > block_max ? m[r] : block_max;
    if (m_new == kNegInf) {
      // Every key so far blocked, or NaN scores, which the max skips: NaN must still reach the
      // output (as it does through the sum below once some score is a number).
      bool nan = false;
      for (int64_t c = 0; c < cols; ++c) nan = nan || row[c] != row[c];
      if (nan) l[r] = std::numeric_limits<T>::quiet_NaN();
      alpha[r] = T(1);
      std::fill(row, row + cols, T(0));
      continue;
    }
    alpha[r] = exp_score(m[r] - m_new);  // 0 on the row's first visible block (m = -inf)
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < cols; ++c) {
      const T e = exp_score(row[c] - m_new);
      row[c] = e;
      sum += e;
    }
    l[r] = l[r] * alpha[r] + sum;
    m[r] = m_new;
  }
}

// acc [rows, n] row r *= alpha[r].
template <class T>
MG_ATTENTION_INLINE void rescale_rows(T* acc, int64_t n, int64_t rows, const T* alpha) {
  for (int64_t r = 0; r < rows; ++r) {
    const T a = alpha[r];
    if (a == T(1)) continue;
    T* row = acc + r * n;
#pragma omp simd
    for (int64_t c = 0; c < n; ++c) row[c] *= a;
  }
}

// The probabilities of a recomputed score tile: s = exp(s - lse[row]); lse = +inf (a row with no
// visible key) gives 0.
template <class T>
MG_ATTENTION_INLINE void probs_block(T* s, int64_t ld, int64_t rows, int64_t cols, const T* lse) {
  for (int64_t r = 0; r < rows; ++r) {
    T* row = s + r * ld;
    const T shift = lse[r];
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) row[c] = exp_score(row[c] - shift);
  }
}

// The score gradient of a tile: dp = p * (dp - delta[row]), delta = rowsum(dO * O).
template <class T>
MG_ATTENTION_INLINE void dscores_block(T* dp, const T* p, int64_t ld, int64_t rows, int64_t cols,
                                       const T* delta) {
  for (int64_t r = 0; r < rows; ++r) {
    T* drow = dp + r * ld;
    const T* prow = p + r * ld;
    const T dr = delta[r];
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) drow[c] = prow[c] * (drow[c] - dr);
  }
}

// The vector width is chosen when the program loads (the library is built for baseline x86-64,
// whose 4-lane SSE would leave the exponentials a large share of a tile's time).

#define MG_ATTENTION_ENTRY_POINTS(T)                                                               \
  MIXGRAD_CPU_LEVEL_CLONES void online_softmax(T* s, int64_t ld, int64_t rows, int64_t cols, T* m, \
                                               T* l, T* alpha) {                                   \
    online_softmax_block(s, ld, rows, cols, m, l, alpha);                                          \
  }                                                                                                \
  MIXGRAD_CPU_LEVEL_CLONES void rescale(T* acc, int64_t n, int64_t rows, const T* alpha) {         \
    rescale_rows(acc, n, rows, alpha);                                                             \
  }                                                                                                \
  MIXGRAD_CPU_LEVEL_CLONES void probs(T* s, int64_t ld, int64_t rows, int64_t cols,                \
                                      const T* lse) {                                              \
    probs_block(s, ld, rows, cols, lse);                                                           \
  }                                                                                                \
  MIXGRAD_CPU_LEVEL_CLONES void dscores(T* dp, const T* p, int64_t ld, int64_t rows, int64_t cols, \
                                        const T* delta) {                                          \
    dscores_block(dp, p, ld, rows, cols, delta);                                                   \
  }
MG_ATTENTION_ENTRY_POINTS(float)
MG_ATTENTION_ENTRY_POINTS(double)
#undef MG_ATTENTION_ENTRY_POINTS
#undef MG_ATTENTION_INLINE

// Runs task(worker, index) for every index in [0, tasks) on `workers` threads, each thread
// pulling the next index from a shared counter.
template <class F>
void run_tasks(int64_t tasks, int64_t workers, F&& task) {
  std::atomic<int64_t> next{0};
  parallel_split(tasks, workers, [&](int64_t w, int64_t, int64_t) {
    for (int64_t t = next.fetch_add(1, std::memory_order_relaxed); t < tasks;
         t = next.fetch_add(1, std::memory_order_relaxed))
      task(w, t);
  });
}

// One query block of one (batch, head): out rows = softmax(scores) v, lse rows. The output rows
// themselves are the accumulator.
template <class T>
void forward_block(const Geometry& g, const MaskView& mask, const AttentionParams& params,
                   const T* q, const T* k, const T* v, T* out, T* lse, int64_t bh, int64_t qb, T* s,
                   T* m, T* l, T* alpha) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  const int64_t b = bh / g.heads, h = bh % g.heads, kvh = b * g.kv_heads + h / g.group;
  const int64_t i0 = qb * kQueryBlock, rows = std::min(kQueryBlock, g.tq - i0);
  const T* qi = q + (bh * g.tq + i0) * g.d;
  const T* kh = k + kvh * g.tk * g.d;
  const T* vh = v + kvh * g.tk * g.dv;
  T* acc = out + (bh * g.tq + i0) * g.dv;
  std::fill(acc, acc + rows * g.dv, T(0));
  std::fill(m, m + rows, kNegInf);
  std::fill(l, l + rows, T(0));
  const T scale = static_cast<T>(params.scale);
  // Causal: the block's last query sees keys up to its own index, none of the later blocks.
  const int64_t key_end = params.causal ? std::min(g.tk, i0 + rows) : g.tk;
  for (int64_t j0 = 0; j0 < key_end; j0 += kKeyBlock) {
    const int64_t cols = std::min(kKeyBlock, key_end - j0);
    gemm<T>(false, true, rows, cols, g.d, scale, qi, g.d, kh + j0 * g.d, g.d, T(0), s, kKeyBlock);
    if (mask.data) apply_mask(s, kKeyBlock, rows, cols, mask, b, h, i0, j0);
    if (params.causal && crosses_diagonal(i0, j0, cols))
      apply_causal(s, kKeyBlock, rows, cols, i0, j0);
    online_softmax(s, kKeyBlock, rows, cols, m, l, alpha);
    rescale(acc, g.dv, rows, alpha);
    gemm<T>(false, false, rows, g.dv, cols, T(1), s, kKeyBlock, vh + j0 * g.dv, g.dv, T(1), acc,
            g.dv);
  }
  T* lse_rows = lse + bh * g.tq + i0;
  for (int64_t r = 0; r < rows; ++r) {
    T* row = acc + r * g.dv;
    if (l[r] == T(0)) {  // no visible key: output 0, and +inf makes the backward's p 0
      std::fill(row, row + g.dv, T(0));
      lse_rows[r] = std::numeric_limits<T>::infinity();
      continue;
    }
    const T inv = T(1) / l[r];
    for (int64_t c = 0; c < g.dv; ++c) row[c] *= inv;
    lse_rows[r] = m[r] + std::log(l[r]);
  }
}

template <class T>
void forward_typed(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                   const Tensor& v, const Tensor& mask, const AttentionParams& params) {
  const Geometry g = geometry_of(q, k, v);
  const MaskView mv = mask_view(mask);
  const int64_t blocks = g.query_blocks();
  const int64_t tasks = g.batch * g.heads * blocks;
  if (tasks == 0) return;
  const int64_t work = g.batch * g.heads * g.tq * g.tk * (g.d + g.dv) / (params.causal ? 2 : 1);
  const int64_t workers = worker_count(tasks, work);
  const int64_t per_worker = kQueryBlock * (kKeyBlock + 3);  // s, then m, l, alpha
  const auto scratch = std::make_unique_for_overwrite<T[]>(workers * per_worker);
  T* scratch_base = scratch.get();
  const T* pq = q.data_ptr<T>();
  const T* pk = k.data_ptr<T>();
  const T* pv = v.data_ptr<T>();
  T* pout = out.data_ptr<T>();
  T* plse = lse.data_ptr<T>();
  run_tasks(tasks, workers, [&](int64_t w, int64_t t) {
    T* s = scratch_base + w * per_worker;
    T* m = s + kQueryBlock * kKeyBlock;
    const int64_t bh = t / blocks, rank = t % blocks;
    const int64_t qb = params.causal ? blocks - 1 - rank : rank;  // costliest first
    forward_block<T>(g, mv, params, pq, pk, pv, pout, plse, bh, qb, s, m, m + kQueryBlock,
                     m + 2 * kQueryBlock);
  });
}

// Pointers of the backward's operands (all contiguous).
template <class T>
struct BackwardOperands {
  T* dq;
  T* dk;
  T* dv;
  const T* dout;
  const T* q;
  const T* k;
  const T* v;
  const T* out;
  const T* lse;
  T* delta;  // [B, H, Tq]: rowsum(dout * out)
};

// Which gradients a pass over the tiles produces.
enum class TileGrads { All, KeysValues, Queries };

// What one tile (query block qb of head bh, keys j0..) contributes: its probabilities P
// recomputed from lse, then dV_j += P^T dO_i, dS = P (dO_i V_j^T - delta_i), dK_j += scale
// dS^T Q_i and dQ_i += scale dS K_j, the accumulations `which` asks for. p and dp: scratch
// tiles.
template <class T>
void tile_backward(const Geometry& g, const MaskView& mask, const AttentionParams& params,
                   const BackwardOperands<T>& x, int64_t bh, int64_t qb, int64_t j0,
                   TileGrads which, T* p, T* dp) {
  const int64_t b = bh / g.heads, h = bh % g.heads, kvh = b * g.kv_heads + h / g.group;
  const int64_t i0 = qb * kQueryBlock, rows = std::min(kQueryBlock, g.tq - i0);
  const int64_t cols = std::min(kKeyBlock, g.tk - j0);
  const T scale = static_cast<T>(params.scale);
  const T* qi = x.q + (bh * g.tq + i0) * g.d;
  const T* doi = x.dout + (bh * g.tq + i0) * g.dv;
  const T* kj = x.k + (kvh * g.tk + j0) * g.d;
  const T* vj = x.v + (kvh * g.tk + j0) * g.dv;
  gemm<T>(false, true, rows, cols, g.d, scale, qi, g.d, kj, g.d, T(0), p, kKeyBlock);
  if (mask.data) apply_mask(p, kKeyBlock, rows, cols, mask, b, h, i0, j0);
  if (params.causal && crosses_diagonal(i0, j0, cols))
    apply_causal(p, kKeyBlock, rows, cols, i0, j0);
  probs(p, kKeyBlock, rows, cols, x.lse + bh * g.tq + i0);
  const bool keys_values = which != TileGrads::Queries;
  if (keys_values) {
    T* dvj = x.dv + (kvh * g.tk + j0) * g.dv;
    gemm<T>(true, false, cols, g.dv, rows, T(1), p, kKeyBlock, doi, g.dv, T(1), dvj, g.dv);
  }
  gemm<T>(false, true, rows, cols, g.dv, T(1), doi, g.dv, vj, g.dv, T(0), dp, kKeyBlock);
  dscores(dp, p, kKeyBlock, rows, cols, x.delta + bh * g.tq + i0);
  if (keys_values) {
    T* dkj = x.dk + (kvh * g.tk + j0) * g.d;
    gemm<T>(true, false, cols, g.d, rows, scale, dp, kKeyBlock, qi, g.d, T(1), dkj, g.d);
  }
  if (which != TileGrads::KeysValues) {
    T* dqi = x.dq + (bh * g.tq + i0) * g.d;
    gemm<T>(false, false, rows, g.d, cols, scale, dp, kKeyBlock, kj, g.d, T(1), dqi, g.d);
  }
}

// The first query block that sees keys j0.. (causal: the queries before j0 see none of them).
int64_t first_query_block(const AttentionParams& params, int64_t j0) {
  return params.causal ? j0 / kQueryBlock : 0;
}

// Keys j0.. of key/value head (b, kvh_index): their dK and dV rows, from every query block of the
// heads reading them, in the order one_pass_task visits them (so with the same bits).
template <class T>
void keys_values_task(const Geometry& g, const MaskView& mask, const AttentionParams& params,
                      const BackwardOperands<T>& x, int64_t b, int64_t kvh_index, int64_t j0, T* p,
                      T* dp) {
  const int64_t kvh = b * g.kv_heads + kvh_index, cols = std::min(kKeyBlock, g.tk - j0);
  std::fill_n(x.dk + (kvh * g.tk + j0) * g.d, cols * g.d, T(0));
  std::fill_n(x.dv + (kvh * g.tk + j0) * g.dv, cols * g.dv, T(0));
  const int64_t first_bh = b * g.heads + kvh_index * g.group;
  for (int64_t bh = first_bh; bh < first_bh + g.group; ++bh)
    for (int64_t qb = first_query_block(params, j0); qb < g.query_blocks(); ++qb)
      tile_backward(g, mask, params, x, bh, qb, j0, TileGrads::KeysValues, p, dp);
}

// Query block qb of head bh: its dQ rows, from every key block it sees, in the order
// one_pass_task visits them.
template <class T>
void queries_task(const Geometry& g, const MaskView& mask, const AttentionParams& params,
                  const BackwardOperands<T>& x, int64_t bh, int64_t qb, T* p, T* dp) {
  const int64_t i0 = qb * kQueryBlock, rows = std::min(kQueryBlock, g.tq - i0);
  std::fill_n(x.dq + (bh * g.tq + i0) * g.d, rows * g.d, T(0));
  for (int64_t j0 = 0; j0 < g.tk; j0 += kKeyBlock)
    if (first_query_block(params, j0) <= qb)
      tile_backward(g, mask, params, x, bh, qb, j0, TileGrads::Queries, p, dp);
}

// All gradients of key/value head (b, kvh_index): its dK and dV, and dQ of the query heads
// reading it. Key blocks outermost, so each dK_j and dV_j accumulates while it is in cache.
template <class T>
void one_pass_task(const Geometry& g, const MaskView& mask, const AttentionParams& params,
                   const BackwardOperands<T>& x, int64_t b, int64_t kvh_index, T* p, T* dp) {
  const int64_t kvh = b * g.kv_heads + kvh_index;
  const int64_t first_bh = b * g.heads + kvh_index * g.group;
  std::fill_n(x.dk + kvh * g.tk * g.d, g.tk * g.d, T(0));
  std::fill_n(x.dv + kvh * g.tk * g.dv, g.tk * g.dv, T(0));
  std::fill_n(x.dq + first_bh * g.tq * g.d, g.group * g.tq * g.d, T(0));
  for (int64_t j0 = 0; j0 < g.tk; j0 += kKeyBlock)
    for (int64_t bh = first_bh; bh < first_bh + g.group; ++bh)
      for (int64_t qb = first_query_block(params, j0); qb < g.query_blocks(); ++qb)
        tile_backward(g, mask, params, x, bh, qb, j0, TileGrads::All, p, dp);
}

template <class T>
void backward_typed(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                    const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                    const Tensor& lse, const Tensor& mask, const AttentionParams& params) {
  const Geometry g = geometry_of(q, k, v);
  const MaskView mv = mask_view(mask);
  const int64_t heads = g.batch * g.kv_heads;
  if (heads == 0) return;
  // Three products more than the forward's two (and one recomputed), over the same tiles.
  const int64_t work = g.batch * g.heads * g.tq * g.tk * 2 * (g.d + g.dv) / (params.causal ? 2 : 1);
  const int64_t threads = worker_count(std::numeric_limits<int64_t>::max(), work);
  const auto delta = std::make_unique_for_overwrite<T[]>(g.batch * g.heads * g.tq);
  const BackwardOperands<T> x{
      dq.data_ptr<T>(), dk.data_ptr<T>(), dv.data_ptr<T>(),  dout.data_ptr<T>(), q.data_ptr<T>(),
      k.data_ptr<T>(),  v.data_ptr<T>(),  out.data_ptr<T>(), lse.data_ptr<T>(),  delta.get()};
  parallel_for(g.batch * g.heads * g.tq,
               std::max<int64_t>(1, kGrainSize / std::max<int64_t>(g.dv, 1)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t i = begin; i < end; ++i) {
                   const T* o = x.out + i * g.dv;
                   const T* d = x.dout + i * g.dv;
                   T sum = 0;
                   for (int64_t c = 0; c < g.dv; ++c) sum += d[c] * o[c];
                   x.delta[i] = sum;
                 }
               });
  // One pass when every thread gets a key/value head (the common case). With at most half as
  // many heads as threads, two passes that split the heads' key blocks (dK, dV) and query blocks
  // (dQ) into tasks recompute the probabilities and dS once more (seven products per tile
  // instead of five) but keep every thread busy (B = H = 1, T = 4096, D = 64, causal, 2 threads:
  // 53 ms against one pass's 72); they accumulate in the same order, so the bits are the same.
  const bool two_passes = 2 * heads <= threads;
  const int64_t workers = two_passes ? threads : std::min(threads, heads);
  const int64_t per_worker = 2 * kQueryBlock * kKeyBlock;  // p, dp
  const auto scratch = std::make_unique_for_overwrite<T[]>(workers * per_worker);
  T* scratch_base = scratch.get();
  auto tiles = [&](int64_t w) { return scratch_base + w * per_worker; };
  if (!two_passes) {
    run_tasks(heads, workers, [&](int64_t w, int64_t t) {
      one_pass_task<T>(g, mv, params, x, t / g.kv_heads, t % g.kv_heads, tiles(w),
                       tiles(w) + kQueryBlock * kKeyBlock);
    });
    return;
  }
  const int64_t key_blocks = (g.tk + kKeyBlock - 1) / kKeyBlock, query_blocks = g.query_blocks();
  // Causal: the first key blocks and the last query blocks cost the most; they go first.
  run_tasks(heads * key_blocks, workers, [&](int64_t w, int64_t t) {
    const int64_t head = t / key_blocks;
    keys_values_task<T>(g, mv, params, x, head / g.kv_heads, head % g.kv_heads,
                        (t % key_blocks) * kKeyBlock, tiles(w), tiles(w) + kQueryBlock * kKeyBlock);
  });
  run_tasks(g.batch * g.heads * query_blocks, workers, [&](int64_t w, int64_t t) {
    const int64_t rank = t % query_blocks;
    const int64_t qb = params.causal ? query_blocks - 1 - rank : rank;
    queries_task<T>(g, mv, params, x, t / query_blocks, qb, tiles(w),
                    tiles(w) + kQueryBlock * kKeyBlock);
  });
}

}  // namespace

void attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                       const Tensor& v, const Tensor& mask,
                       const kernels::AttentionParams& params) {
  dispatch_floating(q.dtype(), "attention_forward",
                    [&]<class T>() { forward_typed<T>(out, lse, q, k, v, mask, params); });
}

void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                        const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                        const Tensor& lse, const Tensor& mask,
                        const kernels::AttentionParams& params) {
  dispatch_floating(q.dtype(), "attention_backward", [&]<class T>() {
    backward_typed<T>(dq, dk, dv, dout, q, k, v, out, lse, mask, params);
  });
}

}  // namespace mixgrad::cpu
