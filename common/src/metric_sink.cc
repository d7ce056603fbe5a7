#include "cdc/common/metric_sink.h"

#include <prometheus/text_serializer.h>

#include <limits>
#include <sstream>
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

std::size_t MetricSink::Family(std::string_view name, std::string_view help,
                               prometheus::MetricType type) {
  auto it = index_.find(name);
  if (it == index_.end()) {
    prometheus::MetricFamily f;
    f.name = std::string(name);
    f.help = std::string(help);
    f.type = type;
    families_.push_back(std::move(f));
    rendered_.emplace_back();
    it = index_.emplace(std::string(name), families_.size() - 1).first;
  } else if (families_[it->second].type != type) {
    throw std::logic_error("metric " + std::string(name) +
                           " used with two types");
  }
  return it->second;
}

prometheus::ClientMetric& MetricSink::Add(std::string_view name,
                                          std::string_view help,
                                          prometheus::MetricType type,
                                          const MetricLabels& labels) {
  const std::size_t i = Family(name, help, type);
  if (!rendered_[i].empty()) {
    throw std::logic_error("metric " + std::string(name) +
                           " has rendered samples; cannot add one by one");
  }
  auto& family = families_[i];
  family.metric.emplace_back();
  auto& m = family.metric.back();
  m.label.reserve(labels.size());
  for (const auto& [k, v] : labels) m.label.push_back({k, v});
  return m;
}

void MetricSink::Add(const RenderedFamily& f) {
  if (!f.samples || f.samples->empty()) return;
  const std::size_t i = Family(f.name, f.help, f.type);
  if (!families_[i].metric.empty()) {
    throw std::logic_error("metric " + f.name +
                           " has samples added one by one; cannot add "
                           "rendered ones");
  }
  rendered_[i].push_back(f.samples);
}

std::string MetricSink::Render() {
  const prometheus::TextSerializer serializer;
  std::size_t rendered_bytes = 0;
  for (const auto& chunks : rendered_) {
    for (const auto& c : chunks) rendered_bytes += c->size();
  }
  std::string out;
  // Families added one by one go through one stream, flushed into `out`
  // before each rendered family so that the order of first use holds.
  std::ostringstream stream;
  std::vector<prometheus::MetricFamily> batch;
  auto flush = [&] {
    if (batch.empty()) return;
    serializer.Serialize(stream, batch);
    batch.clear();
  };
  for (std::size_t i = 0; i < families_.size(); ++i) {
    if (rendered_[i].empty()) {
      batch.push_back(std::move(families_[i]));
      continue;
    }
    // The header: the family without samples.
    batch.push_back(std::move(families_[i]));
    flush();
    if (out.empty()) {
      out.reserve(rendered_bytes + static_cast<std::size_t>(stream.tellp()) +
                  65536);
    }
    out += stream.str();
    stream.str("");
    for (const auto& chunk : rendered_[i]) out += *chunk;
  }
  flush();
  out += stream.str();
  families_.clear();
  rendered_.clear();
  index_.clear();
  return out;
}

std::vector<RenderedFamily> MetricSink::TakeRendered() {
  const prometheus::TextSerializer serializer;
  std::vector<RenderedFamily> out;
  out.reserve(families_.size());
  for (std::size_t i = 0; i < families_.size(); ++i) {
    auto& f = families_[i];
    RenderedFamily r;
    r.name = f.name;
    r.help = std::move(f.help);
    r.type = f.type;
    std::string text;
    if (!f.metric.empty()) {
      // Without help there is no # HELP line; the # TYPE line is the first.
      f.help.clear();
      text = serializer.Serialize({std::move(f)});
      const std::size_t nl = text.find('\n');
      text.erase(0, nl == std::string::npos ? text.size() : nl + 1);
    }
    std::size_t size = text.size();
    for (const auto& chunk : rendered_[i]) size += chunk->size();
    text.reserve(size);
    for (const auto& chunk : rendered_[i]) text += *chunk;
    r.samples = std::make_shared<const std::string>(std::move(text));
    out.push_back(std::move(r));
  }
  families_.clear();
  rendered_.clear();
  index_.clear();
  return out;
}

std::vector<prometheus::MetricFamily> MetricSink::Take() {
  for (std::size_t i = 0; i < rendered_.size(); ++i) {
    if (!rendered_[i].empty()) {
      throw std::logic_error("metric " + families_[i].name +
                             " holds rendered samples; use Render()");
    }
  }
  std::vector<prometheus::MetricFamily> out = std::move(families_);
  families_.clear();
  rendered_.clear();
  index_.clear();
  return out;
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
