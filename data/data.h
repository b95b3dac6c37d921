#pragma once
// mixgrad::data: datasets, the DataLoader, file readers (IDX, CIFAR-10, text matrices, raw
// float32 vectors) and per-feature normalisation. Include this one header.
#include "data/cifar10.h"
#include "data/dataloader.h"
#include "data/dataset.h"
#include "data/float_binary.h"
#include "data/idx.h"
#include "data/normalize.h"
#include "data/text_matrix.h"
