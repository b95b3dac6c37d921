#include "train/progress_bar.h"

#include <cmath>
#include <sstream>

#include "common/test_util.h"
#include "train_test_util.h"

namespace train = mixgrad::train;
using train::ProgressBar;
using train::ProgressMode;
using train::ProgressOptions;
using train::testing::FakeClock;

namespace {

ProgressOptions plain_options(FakeClock& clock, double line_interval_s, double every_percent) {
  ProgressOptions options;
  options.mode = ProgressMode::kPlain;
  options.line_interval_s = line_interval_s;
  options.line_every_percent = every_percent;
  options.clock = clock.fn();
  return options;
}

}  // namespace

TEST(FormatSi, ThreeSignificantDigitsWithSuffix) {
  EXPECT_EQ(train::format_si(0), "0");
  EXPECT_EQ(train::format_si(0.5), "0.5");
  EXPECT_EQ(train::format_si(12.34), "12.3");
  EXPECT_EQ(train::format_si(999), "999");
  EXPECT_EQ(train::format_si(999.4), "999");
  EXPECT_EQ(train::format_si(999.5), "1k");  // not "1e+03"
  EXPECT_EQ(train::format_si(1234), "1.23k");
  EXPECT_EQ(train::format_si(12345), "12.3k");
  EXPECT_EQ(train::format_si(1.5e6), "1.5M");
  EXPECT_EQ(train::format_si(2e9), "2G");
  EXPECT_EQ(train::format_si(3e15), "3P");
  EXPECT_EQ(train::format_si(4e18), "4e+03P");  // past the last suffix the exponent shows
}

TEST(FormatDuration, HoursMinutesSecondsRoundedDown) {
  EXPECT_EQ(train::format_duration(0), "00:00:00");
  EXPECT_EQ(train::format_duration(59.9), "00:00:59");
  EXPECT_EQ(train::format_duration(3723), "01:02:03");
  EXPECT_EQ(train::format_duration(360000), "100:00:00");
  EXPECT_EQ(train::format_duration(-1), "--:--:--");
  EXPECT_EQ(train::format_duration(NAN), "--:--:--");
  EXPECT_EQ(train::format_duration(INFINITY), "--:--:--");
}

TEST(ProgressBar, PlainModePrintsALineEveryIntervalAndASummary) {
  FakeClock clock;
  std::ostringstream out;
  ProgressBar bar(out, plain_options(clock, 10.0, 0.0));
  EXPECT_FALSE(bar.interactive());
  bar.start_epoch(1, 2, 4);
  clock.now = 3;
  bar.step(1.0, 10);  // 3 s since the start: no line yet
  clock.now = 10;
  bar.step(0.5, 30);  // 10 s: a line. loss (10 + 15) / 40, 40 items in 10 s, 2 batches to go
  clock.now = 15;
  bar.step(0.25, 30);  // 5 s since the last line
  clock.now = 25;
  bar.step(0.25, 30);  // due, but the last batch is left to the summary
  clock.now = 26;
  bar.finish_epoch({{"val_acc", 0.75}});
  EXPECT_EQ(out.str(),
            "epoch 1/2  batch 2/4  loss 0.625  4 it/s  elapsed 00:00:10  ETA 00:00:10\n"
            "epoch 1/2  batch 4/4  loss 0.4  3.85 it/s  elapsed 00:00:26  val_acc 0.75\n");
}

TEST(ProgressBar, PlainModePrintsALineEveryPercentStep) {
  FakeClock clock;
  std::ostringstream out;
  ProgressOptions options = plain_options(clock, 0.0, 25.0);
  options.unit = "samples";
  ProgressBar bar(out, options);
  bar.start_epoch(2, 0, 10);  // marks at 2.5, 5, 7.5 and 10 batches
  for (int i = 1; i <= 10; ++i) {
    clock.now = i;
    bar.step(2.0, 5);
  }
  bar.finish_epoch();
  EXPECT_EQ(out.str(),
            "epoch 2  batch 3/10  loss 2  5 samples/s  elapsed 00:00:03  ETA 00:00:07\n"
            "epoch 2  batch 5/10  loss 2  5 samples/s  elapsed 00:00:05  ETA 00:00:05\n"
            "epoch 2  batch 8/10  loss 2  5 samples/s  elapsed 00:00:08  ETA 00:00:02\n"
            "epoch 2  batch 10/10  loss 2  5 samples/s  elapsed 00:00:10\n");
}

TEST(ProgressBar, UnknownTotalHasNoEtaAndNoEpochWhenZero) {
  FakeClock clock;
  std::ostringstream out;
  ProgressBar bar(out, plain_options(clock, 1.0, 50.0));  // percent needs a total: unused
  bar.start_epoch(0, 0, 0);
  clock.now = 2;
  bar.step(1.5, 3000);
  clock.now = 2.5;
  bar.step(0.5, 1000);
  bar.finish_epoch();
  EXPECT_EQ(out.str(),
            "batch 1  loss 1.5  1.5k it/s  elapsed 00:00:02\n"
            "batch 2  loss 1.25  1.6k it/s  elapsed 00:00:02\n");
}

TEST(ProgressBar, InteractiveModeRedrawsInPlaceAtMostEveryInterval) {
  FakeClock clock;
  std::ostringstream out;
  ProgressOptions options;
  options.mode = ProgressMode::kInteractive;
  options.clock = clock.fn();
  ProgressBar bar(out, options);
  EXPECT_TRUE(bar.interactive());
  bar.start_epoch(1, 1, 3);  // drawn at once
  clock.now = 0.05;
  bar.step(1.0);  // 0.05 s after the last draw: skipped
  clock.now = 0.2;
  bar.step(3.0);  // drawn
  clock.now = 0.25;
  bar.step(4.0);  // skipped
  clock.now = 0.3;
  bar.finish_epoch();  // always drawn; shorter than the previous line, so padded, then '\n'
  const std::string line0 = "epoch 1/1  batch 0/3  loss -  - it/s  elapsed 00:00:00  ETA --:--:--";
  const std::string line1 = "epoch 1/1  batch 2/3  loss 2  10 it/s  elapsed 00:00:00  ETA 00:00:00";
  const std::string line2 = "epoch 1/1  batch 3/3  loss 2.667  10 it/s  elapsed 00:00:00";
  ASSERT_EQ(line0.size(), line1.size() - 1);
  EXPECT_EQ(out.str(), "\r" + line0 + "\r" + line1 + "\r" + line2 +
                           std::string(line1.size() - line2.size(), ' ') + "\n");
}

TEST(ProgressBar, InteractiveLineIsEndedWhenTheBarIsDestroyedMidEpoch) {
  FakeClock clock;
  std::ostringstream out;
  {
    ProgressOptions options;
    options.mode = ProgressMode::kInteractive;
    options.clock = clock.fn();
    ProgressBar bar(out, options);
    bar.start_epoch(1, 1, 2);
  }
  EXPECT_EQ(out.str(), "\repoch 1/1  batch 0/2  loss -  - it/s  elapsed 00:00:00  ETA --:--:--\n");
}

TEST(ProgressBar, AutoModeOnAStringStreamIsPlain) {
  std::ostringstream out;
  EXPECT_FALSE(ProgressBar(out).interactive());
}

TEST(ProgressBar, Errors) {
  std::ostringstream out;
  ProgressBar bar(out, {.mode = ProgressMode::kPlain});
  EXPECT_MG_ERROR(bar.step(1.0), "no epoch started");
  EXPECT_MG_ERROR(bar.finish_epoch(), "no epoch started");
  EXPECT_MG_ERROR(bar.start_epoch(1, 1, -1), "must be >= 0");
  bar.start_epoch(1, 1, 1);
  EXPECT_MG_ERROR(bar.step(1.0, -2), "items must be >= 0, got -2");
  EXPECT_MG_ERROR(ProgressBar(out, {.redraw_interval_s = -1}),
                  "option redraw_interval_s must be in [0, ");
  EXPECT_MG_ERROR(ProgressBar(out, {.line_interval_s = NAN}), "option line_interval_s");
  EXPECT_MG_ERROR(ProgressBar(out, {.line_every_percent = 150}),
                  "option line_every_percent must be in [0, 100], got 150");
  EXPECT_EQ(out.str(), "");
}

TEST(ProgressBar, ShowsTheItemWeightedMeanOfANamedMetric) {
  FakeClock clock;
  std::ostringstream out;
  ProgressOptions options = plain_options(clock, 0.0, 0.0);
  options.metric = "acc";
  ProgressBar bar(out, options);
  bar.start_epoch(1, 1, 2);
  clock.now = 1;
  bar.step(1.0, 10, 0.5);
  clock.now = 2;
  bar.step(0.5, 30, 0.9);  // acc (5 + 27) / 40
  bar.finish_epoch();
  EXPECT_EQ(out.str(), "epoch 1/1  batch 2/2  loss 0.625  acc 0.8  20 it/s  elapsed 00:00:02\n");
  EXPECT_THROW(bar.step(1.0, 1, 0.5), mixgrad::Error);  // no epoch started

  ProgressBar unnamed(out, plain_options(clock, 0.0, 0.0));
  unnamed.start_epoch(1, 1, 1);
  EXPECT_THROW(unnamed.step(1.0, 1, 0.5), mixgrad::Error);
}
