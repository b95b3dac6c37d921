#include "zoo/quadruped_data.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"
#include "ops/creation.h"

namespace mixgrad::zoo {

namespace q = quadruped;

namespace {

constexpr double kPi = std::numbers::pi;
constexpr double kDt = 1.0 / q::kFps;
constexpr int64_t kTransitionFrames = 30;  // half a second, as quick as real gait changes
constexpr int64_t kMinSegment = 90, kMaxSegment = 180;
constexpr double kVelocityLag =
    0.4;  // seconds: the body follows the command like a first-order lag

struct GaitParams {
  std::array<double, q::kLegs> lift_off;  // each leg's lift-off within the stride, in [0, 1)
  double duty;                            // the fraction of the stride a foot is on the ground
  double speed_lo, speed_hi;              // m/s
  double freq_lo, freq_hi;                // strides per second at speed_lo and at speed_hi
  double lift;                            // swing height (m)
  double bob;                             // vertical body oscillation (m)
  double bobs_per_stride;                 // 2 for the symmetric gaits, 1 for the canter
  double pitch;                           // rocking: the chest rises while the pelvis sinks (m)
  double sway;                            // sideways body oscillation (m)
};

// Dog-like numbers: the speed ranges overlap a little, as they do in real animals.
const GaitParams& gait_params(Gait gait) {
  static const std::array<GaitParams, kGaits> table = {{
      // walk: LH 0, LF 1/4, RH 1/2, RF 3/4 (lift-offs in the order LF, RF, LH, RH)
      {{0.25, 0.75, 0.0, 0.5}, 0.70, 0.4, 1.3, 0.9, 1.5, 0.07, 0.010, 2.0, 0.0, 0.010},
      // pace: left legs together, right legs half a stride later
      {{0.0, 0.5, 0.0, 0.5}, 0.50, 1.2, 2.2, 1.5, 2.0, 0.09, 0.015, 2.0, 0.0, 0.035},
      // trot: LF with RH, RF with LH
      {{0.5, 0.0, 0.0, 0.5}, 0.45, 1.8, 3.2, 1.8, 2.4, 0.11, 0.020, 2.0, 0.0, 0.005},
      // canter (left lead): RH, then LH with RF, then LF, then a moment of suspension
      {{0.55, 0.3, 0.3, 0.0}, 0.35, 3.2, 5.0, 2.0, 2.5, 0.13, 0.030, 1.0, 0.05, 0.0},
  }};
  return table[static_cast<size_t>(gait)];
}

// SplitMix64: portable, so a seed gives the same data with every standard library.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream) : state_(mix(seed) ^ mix(stream + 0x632BE59BD9B4E019ull)) {}
  uint64_t next() { return mix(state_ += 0x9E3779B97F4A7C15ull); }
  double uniform(double lo, double hi) {
    return lo + (hi - lo) * static_cast<double>(next() >> 11) * 0x1.0p-53;
  }
  int64_t integer(int64_t lo, int64_t hi) {  // inclusive
    return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1));
  }
  bool coin() { return (next() >> 63) != 0; }

 private:
  static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t state_;
};

struct Vec3 {
  double x = 0, y = 0, z = 0;
};
Vec3 operator+(Vec3 a, Vec3 b) {
  return {a.x + b.x, a.y + b.y, a.z + b.z};
}
Vec3 operator-(Vec3 a, Vec3 b) {
  return {a.x - b.x, a.y - b.y, a.z - b.z};
}
Vec3 operator*(Vec3 a, double s) {
  return {a.x * s, a.y * s, a.z * s};
}
double dot(Vec3 a, Vec3 b) {
  return a.x * b.x + a.y * b.y + a.z * b.z;
}
double norm(Vec3 a) {
  return std::sqrt(dot(a, a));
}

double lerp(double a, double b, double t) {
  return a + (b - a) * t;
}
double frac(double x) {
  return x - std::floor(x);
}
double smoothstep(double s) {
  return s * s * (3.0 - 2.0 * s);
}
// The signed phase difference in [-0.5, 0.5): offsets blend the short way round the cycle.
double wrap_half(double d) {
  return frac(d + 0.5) - 0.5;
}

// Command: forward speed within the gait's range, sometimes sideways speed and turning.
struct Command {
  double forward = 0, lateral = 0, yaw = 0;
};

struct Segment {
  int64_t start;
  Gait gait;
  Command command;
};

std::vector<Segment> plan_segments(Rng& rng, int64_t frames) {
  std::vector<Segment> segments;
  auto gait = static_cast<Gait>(rng.integer(0, kGaits - 1));
  for (int64_t start = 0; start < frames; start += rng.integer(kMinSegment, kMaxSegment)) {
    const GaitParams& p = gait_params(gait);
    Command c;
    c.forward = rng.uniform(p.speed_lo, p.speed_hi);
    c.lateral = rng.coin() ? rng.uniform(-0.25, 0.25) : 0.0;
    c.yaw = rng.coin() ? rng.uniform(-0.6, 0.6) : 0.0;
    segments.push_back({start, gait, c});
    gait = static_cast<Gait>((static_cast<int64_t>(gait) + rng.integer(1, kGaits - 1)) % kGaits);
  }
  return segments;
}

// The knee (or elbow) of a two-bone leg from hip to foot, bending towards `bend`; pulls the foot
// in when it is out of reach.
Vec3 solve_knee(Vec3 hip, Vec3& foot, double bone, Vec3 bend) {
  Vec3 reach = foot - hip;
  double d = norm(reach);
  const double max_reach = 0.995 * 2.0 * bone;
  if (d > max_reach) {
    foot = hip + reach * (max_reach / d);
    reach = foot - hip;
    d = max_reach;
  }
  const Vec3 dir = reach * (1.0 / d);
  Vec3 n = bend - dir * dot(bend, dir);
  n = n * (1.0 / norm(n));
  const double along = d / 2.0;  // equal bones
  const double out = std::sqrt(std::max(bone * bone - along * along, 0.0));
  return hip + dir * along + n * out;
}

// The state of one sequence while its frames are generated.
class Animal {
 public:
  Animal(Rng& rng, std::vector<Segment> segments)
      : segments_(std::move(segments)),
        scale_(rng.uniform(0.92, 1.08)),
        tempo_(rng.uniform(0.95, 1.05)),
        phase_(rng.uniform(0.0, 1.0)),
        velocity_(segments_.front().command) {}

  // The pose of frame t (t >= -1, in order), then advances the clock by one frame.
  void step(int64_t t, double* pose, Gait& label, bool& steady, Command& command) {
    size_t seg = 0;
    while (seg + 1 < segments_.size() && segments_[seg + 1].start <= t) ++seg;
    const Gait to = segments_[seg].gait;
    const Gait from = seg == 0 ? to : segments_[seg - 1].gait;
    const double p =
        std::clamp(static_cast<double>(t - segments_[seg].start) / kTransitionFrames, 0.0, 1.0);
    label = p >= 0.5 ? to : from;
    steady = from == to || p >= 1.0;
    command = segments_[seg].command;

    const GaitParams& a = gait_params(from);
    const GaitParams& b = gait_params(to);
    const double freq = lerp(stride_frequency(a), stride_frequency(b), p) * tempo_;
    const double duty = lerp(a.duty, b.duty, p);
    const double lift = lerp(a.lift, b.lift, p) * scale_;
    const double cycle = 2.0 * kPi * phase_;
    const double bob = ((1.0 - p) * a.bob * std::cos(a.bobs_per_stride * cycle) +
                        p * b.bob * std::cos(b.bobs_per_stride * cycle)) *
                       scale_;
    const double pitch = lerp(a.pitch, b.pitch, p) * std::sin(cycle) * scale_;
    const double sway = lerp(a.sway, b.sway, p) * std::sin(cycle) * scale_;

    const double s = scale_, height = 0.52 * s;
    const Vec3 pelvis{-0.30 * s, height + bob - pitch, sway};
    const Vec3 chest{0.30 * s, height + bob + pitch, sway};
    const Vec3 spine = (pelvis + chest) * 0.5 + Vec3{0.0, 0.03 * s, 0.0};
    const Vec3 neck = chest + Vec3{0.14 * s, 0.14 * s, 0.04 * s * velocity_.yaw};
    const Vec3 head = neck + Vec3{0.13 * s, 0.05 * s + 0.5 * bob, 0.08 * s * velocity_.yaw};
    std::array<Vec3, q::kJoints> joints{pelvis, spine, chest, neck, head};

    for (int leg = 0; leg < q::kLegs; ++leg) {
      const bool fore = leg == q::kLeftFore || leg == q::kRightFore;
      const double side = (leg == q::kLeftFore || leg == q::kLeftHind) ? 1.0 : -1.0;
      const Vec3 hip = (fore ? chest : pelvis) + Vec3{0.0, -0.06 * s, 0.09 * side * s};
      const Vec3 neutral{(fore ? 0.32 : -0.32) * s, 0.0, 0.11 * side * s};
      // How far the body travels over a planted foot (the ground slides back under it).
      const double stance_seconds = duty / freq;
      const Vec3 travel{(velocity_.forward + velocity_.yaw * neutral.z) * stance_seconds, 0.0,
                        (velocity_.lateral - velocity_.yaw * neutral.x) * stance_seconds};
      const double offset = a.lift_off[leg] + p * wrap_half(b.lift_off[leg] - a.lift_off[leg]);
      const double leg_phase = frac(phase_ - offset);
      const double swing = 1.0 - duty;
      Vec3 foot;
      if (leg_phase < swing) {
        const double u = leg_phase / swing;
        foot = neutral + travel * (smoothstep(u) - 0.5);
        foot.y = lift * std::sin(kPi * u);
      } else {
        const double u = (leg_phase - swing) / duty;
        foot = neutral + travel * (0.5 - u);
      }
      // Elbows point back, stifles forward.
      const Vec3 knee = solve_knee(hip, foot, 0.30 * s, Vec3{fore ? -1.0 : 1.0, 0.0, 0.0});
      const int64_t j = q::kBodyJoints + 3 * leg;
      joints[j] = hip;
      joints[j + 1] = knee;
      joints[j + 2] = foot;
    }
    for (int64_t j = 0; j < q::kJoints; ++j) {
      pose[3 * j] = joints[j].x;
      pose[3 * j + 1] = joints[j].y;
      pose[3 * j + 2] = joints[j].z;
    }

    phase_ = frac(phase_ + freq * kDt);
    const double follow = 1.0 - std::exp(-kDt / kVelocityLag);
    velocity_.forward += (command.forward - velocity_.forward) * follow;
    velocity_.lateral += (command.lateral - velocity_.lateral) * follow;
    velocity_.yaw += (command.yaw - velocity_.yaw) * follow;
  }

 private:
  // Faster within a gait means longer and quicker strides.
  double stride_frequency(const GaitParams& g) const {
    const double x =
        std::clamp((velocity_.forward - g.speed_lo) / (g.speed_hi - g.speed_lo), 0.0, 1.0);
    return lerp(g.freq_lo, g.freq_hi, x);
  }

  std::vector<Segment> segments_;
  double scale_, tempo_, phase_;
  Command velocity_;  // what the body does, lagging behind the command
};

}  // namespace

std::string gait_name(Gait gait) {
  switch (gait) {
    case Gait::kWalk:
      return "walk";
    case Gait::kPace:
      return "pace";
    case Gait::kTrot:
      return "trot";
    case Gait::kCanter:
      return "canter";
  }
  return "gait " + std::to_string(static_cast<int>(gait));
}

namespace quadruped {

int64_t foot_joint(int leg) {
  return kBodyJoints + 3 * leg + 2;
}

int64_t foot_height_column(int leg) {
  return 3 * foot_joint(leg) + 1;
}

std::vector<int64_t> gating_columns() {
  std::vector<int64_t> columns;
  for (int leg = 0; leg < kLegs; ++leg) {
    for (int64_t c = 0; c < 3; ++c) columns.push_back(kPoseDim + 3 * foot_joint(leg) + c);
  }
  for (int64_t c = 0; c < kCommandDim; ++c) columns.push_back(2 * kPoseDim + c);
  return columns;
}

}  // namespace quadruped

QuadrupedData generate_quadruped(const QuadrupedOptions& options) {
  MG_CHECK(options.sequences > 0 && options.frames > 0, "quadruped data",
           "needs at least one sequence of at least one frame, got ", options.sequences,
           " sequences of ", options.frames, " frames");
  const int64_t n = options.sequences * options.frames;
  std::vector<float> input(static_cast<size_t>(n * q::kInputDim));
  std::vector<float> output(static_cast<size_t>(n * q::kOutputDim));
  QuadrupedData data;
  data.gait.resize(static_cast<size_t>(n));
  data.steady.resize(static_cast<size_t>(n));

  // Poses of frames -1 .. frames: the previous one gives the velocity, the next the target.
  std::vector<double> poses(static_cast<size_t>((options.frames + 2) * q::kPoseDim));
  std::vector<Gait> labels(static_cast<size_t>(options.frames + 2));
  std::vector<uint8_t> steady(labels.size());
  std::vector<Command> commands(labels.size());
  for (int64_t sq = 0; sq < options.sequences; ++sq) {
    Rng rng(options.seed, static_cast<uint64_t>(options.first_sequence + sq));
    Animal animal(rng, plan_segments(rng, options.frames));
    for (int64_t t = -1; t <= options.frames; ++t) {
      const auto k = static_cast<size_t>(t + 1);
      bool is_steady = false;
      animal.step(std::max<int64_t>(t, 0), &poses[k * q::kPoseDim], labels[k], is_steady,
                  commands[k]);
      steady[k] = is_steady ? 1 : 0;
    }
    const int64_t base = sq * options.frames;
    data.sequence_begin.push_back(base);
    for (int64_t t = 0; t < options.frames; ++t) {
      const double* prev = &poses[static_cast<size_t>(t * q::kPoseDim)];
      const double* cur = prev + q::kPoseDim;
      const double* next = cur + q::kPoseDim;
      float* in = &input[static_cast<size_t>((base + t) * q::kInputDim)];
      float* out = &output[static_cast<size_t>((base + t) * q::kOutputDim)];
      for (int64_t c = 0; c < q::kPoseDim; ++c) {
        in[c] = static_cast<float>(cur[c]);
        in[q::kPoseDim + c] = static_cast<float>((cur[c] - prev[c]) * q::kFps);
        out[c] = static_cast<float>(next[c]);
      }
      const Command& cmd = commands[static_cast<size_t>(t + 1)];
      in[2 * q::kPoseDim] = static_cast<float>(cmd.forward);
      in[2 * q::kPoseDim + 1] = static_cast<float>(cmd.lateral);
      in[2 * q::kPoseDim + 2] = static_cast<float>(cmd.yaw);
      data.gait[static_cast<size_t>(base + t)] = labels[static_cast<size_t>(t + 1)];
      data.steady[static_cast<size_t>(base + t)] = steady[static_cast<size_t>(t + 1)];
    }
  }
  data.sequence_begin.push_back(n);
  data.input = tensor(input, Shape{n, q::kInputDim});
  data.output = tensor(output, Shape{n, q::kOutputDim});
  return data;
}

}  // namespace mixgrad::zoo
