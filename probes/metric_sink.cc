#include "probes/metric_sink.h"

#include <limits>
#include <stdexcept>

namespace cdc {

void HistogramData::Observe(double v) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (v <= bounds[i]) {
      ++bucket_counts[i];
      break;
    }
  }
  ++count;
  sum += v;
}

prometheus::ClientMetric& MetricSink::Add(std::string_view name,
                                          std::string_view help,
                                          prometheus::MetricType type,
                                          const MetricLabels& labels) {
  auto it = index_.find(name);
  if (it == index_.end()) {
    prometheus::MetricFamily f;
    f.name = std::string(name);
    f.help = std::string(help);
    f.type = type;
    families_.push_back(std::move(f));
    it = index_.emplace(std::string(name), families_.size() - 1).first;
  } else if (families_[it->second].type != type) {
    throw std::logic_error("metric " + std::string(name) +
                           " used with two types");
  }
  auto& family = families_[it->second];
  family.metric.emplace_back();
  auto& m = family.metric.back();
  m.label.reserve(labels.size());
  for (const auto& [k, v] : labels) m.label.push_back({k, v});
  return m;
}

void MetricSink::Gauge(std::string_view name, std::string_view help,
                       const MetricLabels& labels, double value) {
  Add(name, help, prometheus::MetricType::Gauge, labels).gauge.value = value;
}

void MetricSink::Counter(std::string_view name, std::string_view help,
                         const MetricLabels& labels, double value) {
  Add(name, help, prometheus::MetricType::Counter, labels).counter.value =
      value;
}

void MetricSink::Histogram(std::string_view name, std::string_view help,
                           const MetricLabels& labels, const HistogramData& h) {
  auto& m = Add(name, help, prometheus::MetricType::Histogram, labels);
  m.histogram.sample_count = h.count;
  m.histogram.sample_sum = h.sum;
  uint64_t cumulative = 0;
  for (std::size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += h.bucket_counts[i];
    m.histogram.bucket.push_back({cumulative, h.bounds[i]});
  }
  m.histogram.bucket.push_back(
      {h.count, std::numeric_limits<double>::infinity()});
}

}  // namespace cdc
