#pragma once

#include "cdc/common/metric_sink.h"

namespace cdc {

// The standard process_* metrics (CPU, memory, file descriptors, threads,
// start time) of this process, read from /proc/self. Thread-safe.
void CollectProcessMetrics(MetricSink& sink);

}  // namespace cdc
