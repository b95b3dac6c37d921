#pragma once
// A procedurally generated quadruped locomotion data set in the shape of MANN's (Zhang et al.
// 2018): a dog-sized skeleton moving in four gaits, each with its own leg-phase relation, speed
// range and stride frequency, under a commanded velocity that changes every few seconds, with
// the gait changing at the same moments (leg phases, duty factor and body motion blended over a
// transition). Everything is a deterministic function of the seed, and 30k frames take a few
// milliseconds.
//
// One frame t of a sequence: input = [pose_t, (pose_t - pose_{t-1}) * fps, command_t], output =
// pose_{t+1}. A pose is the 3-D position of every joint in the root's frame (the root is the
// body's projection onto the ground: x forward, y up, z to the left).
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace mixgrad::zoo {

enum class Gait : uint8_t {
  kWalk,    // four-beat lateral sequence: LH, LF, RH, RF a quarter stride apart
  kPace,    // the two legs of one side in phase
  kTrot,    // the diagonal pairs in phase
  kCanter,  // three beats: trailing hind, other hind with the diagonal fore, leading fore
};
inline constexpr int kGaits = 4;
// "walk", "pace", "trot", "canter".
std::string gait_name(Gait gait);

namespace quadruped {

// Joints: pelvis, spine, chest, neck, head, then 3 per leg (hip or shoulder, knee or elbow,
// foot) for the legs in the order of Leg.
enum Leg : int { kLeftFore, kRightFore, kLeftHind, kRightHind };
inline constexpr int kLegs = 4;
inline constexpr int64_t kBodyJoints = 5;
inline constexpr int64_t kJoints = kBodyJoints + 3 * kLegs;
inline constexpr int64_t kPoseDim = 3 * kJoints;
// Commanded forward speed and lateral speed (m/s) and yaw rate (rad/s).
inline constexpr int64_t kCommandDim = 3;
inline constexpr int64_t kInputDim = 2 * kPoseDim + kCommandDim;
inline constexpr int64_t kOutputDim = kPoseDim;
inline constexpr double kFps = 60.0;

// The joint index of `leg`'s foot.
int64_t foot_joint(int leg);
// The input column holding the height (y) of `leg`'s foot in the current pose.
int64_t foot_height_column(int leg);
// The input columns the gating network reads, as in the original MANN: the velocities of the
// four feet (x, y, z each), then the command.
std::vector<int64_t> gating_columns();

}  // namespace quadruped

struct QuadrupedOptions {
  int64_t sequences = 48;
  int64_t frames = 600;  // per sequence
  uint64_t seed = 0;
  // Sequence i of the data set is sequence first_sequence + i of the seed's endless stream, so
  // data sets with disjoint ranges (train, validation) share no sequence.
  int64_t first_sequence = 0;
};

struct QuadrupedData {
  Tensor input;   // float32 [N, kInputDim], in metres, m/s and rad/s
  Tensor output;  // float32 [N, kOutputDim]
  // Per frame: the gait the animal is in (a transition's target from its midpoint on) and
  // whether no transition is under way.
  std::vector<Gait> gait;
  std::vector<uint8_t> steady;
  // The first frame of each sequence, then N.
  std::vector<int64_t> sequence_begin;
};

// Throws Error for a non-positive sequence or frame count.
QuadrupedData generate_quadruped(const QuadrupedOptions& options);

}  // namespace mixgrad::zoo
