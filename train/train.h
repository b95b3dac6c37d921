#pragma once
// Training utilities: progress display, CSV metric logs, running means and the fit() helper.
#include "train/csv_logger.h"
#include "train/metrics.h"
#include "train/plot.h"
#include "train/progress_bar.h"
#include "train/trainer.h"
