#pragma once

#include <prometheus/metric_family.h>

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cdc {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Cumulative histogram state: counts per upper bound (the +Inf bucket is
// implied by `count`).
struct HistogramData {
  std::vector<double> bounds;
  std::vector<uint64_t> bucket_counts;  // non-cumulative, one per bound
  uint64_t count = 0;
  double sum = 0;

  explicit HistogramData(std::vector<double> b = {})
      : bounds(std::move(b)), bucket_counts(bounds.size(), 0) {}
  void Observe(double v);
};

// Collects samples for one scrape and groups them into metric families by
// name, so that several probes can contribute series to one family.
// Not thread-safe: one per scrape.
class MetricSink {
 public:
  void Gauge(std::string_view name, std::string_view help,
             const MetricLabels& labels, double value);
  void Counter(std::string_view name, std::string_view help,
               const MetricLabels& labels, double value);
  void Histogram(std::string_view name, std::string_view help,
                 const MetricLabels& labels, const HistogramData& h);

  // The families collected so far, in order of first use.
  std::vector<prometheus::MetricFamily> Take() { return std::move(families_); }

 private:
  prometheus::ClientMetric& Add(std::string_view name, std::string_view help,
                                prometheus::MetricType type,
                                const MetricLabels& labels);

  std::vector<prometheus::MetricFamily> families_;
  std::map<std::string, std::size_t, std::less<>> index_;
};

}  // namespace cdc
