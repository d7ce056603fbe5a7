#pragma once

#include <prometheus/metric_family.h>

#include <map>
#include <memory>
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

// One metric family's samples already in the text exposition format: the
// sample lines only, without the # HELP and # TYPE lines. A probe whose series
// change only when it runs renders them then, once (MetricSink::
// TakeRendered), and adds the same text to every scrape (MetricSink::Add):
// at a thousand connectors that is 32,000 series a scrape need not format.
// Immutable once made; safe to share between threads.
struct RenderedFamily {
  std::string name;
  std::string help;
  prometheus::MetricType type = prometheus::MetricType::Untyped;
  std::shared_ptr<const std::string> samples;
};

// Collects samples for one scrape and groups them into metric families by
// name, so that several probes can contribute series to one family (each
// family is written once, with one # HELP and # TYPE). A family holds either
// samples added one by one or rendered text, never both.
// Not thread-safe: one per scrape.
class MetricSink {
 public:
  void Gauge(std::string_view name, std::string_view help,
             const MetricLabels& labels, double value);
  void Counter(std::string_view name, std::string_view help,
               const MetricLabels& labels, double value);
  void Histogram(std::string_view name, std::string_view help,
                 const MetricLabels& labels, const HistogramData& h);

  // Appends rendered samples to the family `f.name` (nothing if they are
  // empty). Throws std::logic_error if the family exists with another type
  // or with samples added one by one.
  void Add(const RenderedFamily& f);

  // The exposition text of everything collected (Prometheus text format
  // 0.0.4, written by prometheus-cpp's TextSerializer), families in order of
  // first use. Empties the sink.
  std::string Render();

  // Each family's samples rendered to text, for adding to later sinks.
  // Empties the sink.
  std::vector<RenderedFamily> TakeRendered();

  // The families collected so far, in order of first use. Empties the sink.
  // Throws std::logic_error if a family holds rendered text (use Render).
  std::vector<prometheus::MetricFamily> Take();

 private:
  std::size_t Family(std::string_view name, std::string_view help,
                     prometheus::MetricType type);
  prometheus::ClientMetric& Add(std::string_view name, std::string_view help,
                                prometheus::MetricType type,
                                const MetricLabels& labels);

  std::vector<prometheus::MetricFamily> families_;
  // Parallel to families_: the rendered text added to each.
  std::vector<std::vector<std::shared_ptr<const std::string>>> rendered_;
  std::map<std::string, std::size_t, std::less<>> index_;
};

}  // namespace cdc
