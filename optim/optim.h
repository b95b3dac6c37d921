#pragma once
// mixgrad::optim: optimizers, learning-rate schedules and gradient clipping.
#include "optim/adam.h"
#include "optim/adamwr.h"
#include "optim/clip_grad.h"
#include "optim/lr_scheduler.h"
#include "optim/optimizer.h"
#include "optim/sgd.h"
