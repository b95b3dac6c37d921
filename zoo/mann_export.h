#pragma once
// A mann-quadruped checkpoint in the binary layout of the original MANN code (AI4Animation,
// SIGGRAPH_2018: TensorFlow/MANN/Gating.py save_GT and ExpertWeights.py save_EP), which its
// runtimes (Unity's MANN.cs, the Unreal port) load.
//
// Every file is raw little-endian float32 with no header, a matrix in row-major order with one
// row per OUTPUT unit: the original trains W as [out, in] and computes W x (x a column), saves
// with NumPy's tofile, and MANN.cs reads e.g. wc0_w.bin as a HDimBlend x XDimBlend matrix. This
// is also the layout mixgrad stores (nn::Linear and BlendedLinear weights are [out, in]), so
// the values are written as they are, not transposed.
//
//   wc{0,1,2}_w.bin   gating layer i weight, [32, G], [32, 32], [E, 32] (G gating inputs)
//   wc{0,1,2}_b.bin   gating layer i bias, [out] (the original's [out, 1] column)
//   cp{0,1,2}_a{e}.bin  motion layer l, expert e weight: [H, X], [H, H], [Y, H]
//   cp{0,1,2}_b{e}.bin  motion layer l, expert e bias: [out]
//   Xmean.bin Xstd.bin Ymean.bin Ystd.bin   the normalisation of inputs and outputs ([X], [Y])
//
// The normalisation travels in the checkpoint itself: mann-quadruped keeps the statistics of
// the data it trained on as buffers (x_mean, x_std, y_mean, y_std), so the export needs no data.
// Which input columns feed the gating network (MANN.cs's ControlNeurons) is not part of the
// layout: for the generated data they are quadruped::gating_columns() (zoo/quadruped_data.h),
// for the original data the columns of its main.py.
#include <string>

namespace mixgrad::zoo {

// Writes the files above into `out_dir` (created if needed; existing files are replaced).
// Throws Error naming the file when the checkpoint cannot be read or is not a mann-quadruped
// checkpoint (a tensor missing, of another dtype than float32, or of inconsistent shape), and
// when `out_dir` cannot be created or written.
void export_mann(const std::string& checkpoint, const std::string& out_dir);

}  // namespace mixgrad::zoo
