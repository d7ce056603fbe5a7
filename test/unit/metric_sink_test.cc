#include "cdc/common/metric_sink.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "test/common/exposition.h"

namespace cdc {
namespace {

using prometheus::MetricType;
using testing::CountOf;

// A little of everything, with label values that need escaping.
void Fill(MetricSink& sink, const std::string& cluster) {
  sink.Gauge("g_state", "State \\ with a backslash.",
             {{"cluster", cluster}, {"connector", "quote\" back\\ nl\n"}}, 1);
  sink.Gauge("g_state", "State \\ with a backslash.",
             {{"cluster", cluster}, {"connector", "plain"}}, 0);
  sink.Counter("c_total", "A counter.", {{"cluster", cluster}}, 12345678901.5);
  HistogramData h({0.1, 1, 10});
  h.Observe(0.05);
  h.Observe(3);
  h.Observe(100);
  sink.Histogram("h_seconds", "A histogram.", {{"cluster", cluster}}, h);
  sink.Gauge("g_special", "Odd values.", {{"v", "inf"}},
             std::numeric_limits<double>::infinity());
  sink.Gauge("g_special", "Odd values.", {{"v", "small"}}, 1.5e-300);
  sink.Gauge("g_no_labels", "", {}, -2);
}

TEST(MetricSink, RenderIsPrometheusCppsTextSerializer) {
  MetricSink a;
  Fill(a, "x");
  MetricSink b;
  Fill(b, "x");
  EXPECT_EQ(a.Render(), prometheus::TextSerializer().Serialize(b.Take()));
}

TEST(MetricSink, RenderedSamplesGiveTheSameText) {
  MetricSink direct;
  Fill(direct, "x");
  const std::string want = direct.Render();

  MetricSink source;
  Fill(source, "x");
  std::vector<RenderedFamily> rendered = source.TakeRendered();
  ASSERT_EQ(rendered.size(), 5u);
  EXPECT_EQ(rendered[0].name, "g_state");
  EXPECT_EQ(rendered[0].help, "State \\ with a backslash.");
  EXPECT_EQ(rendered[0].type, MetricType::Gauge);
  EXPECT_EQ(rendered[0].samples->find("# "), std::string::npos)
      << *rendered[0].samples;
  MetricSink spliced;
  for (const auto& f : rendered) spliced.Add(f);
  EXPECT_EQ(spliced.Render(), want);
  // The rendering can be added to any number of later sinks.
  MetricSink again;
  for (const auto& f : rendered) again.Add(f);
  EXPECT_EQ(again.Render(), want);
}

TEST(MetricSink, RenderedChunksOfOneFamilyShareOneHeader) {
  MetricSink one;
  Fill(one, "one");
  MetricSink two;
  Fill(two, "two");
  auto r1 = one.TakeRendered();
  auto r2 = two.TakeRendered();
  MetricSink sink;
  for (const auto& f : r1) sink.Add(f);
  for (const auto& f : r2) sink.Add(f);
  const testing::Scrape scrape(sink.Render());
  EXPECT_TRUE(scrape.duplicate_headers().empty()) << scrape.text();
  EXPECT_EQ(CountOf(scrape.text(), "# HELP g_state "), 1);
  EXPECT_EQ(scrape.types().at("h_seconds"), "histogram");
  EXPECT_EQ(scrape.types().at("c_total"), "counter");
  EXPECT_EQ(scrape.All("g_state", {}).size(), 4u);
  EXPECT_TRUE(scrape.Is("g_state",
                        {{"cluster", "two"},
                         {"connector",
                          "quote\" back\\ nl"
                          "n"}},
                        1))
      << scrape.text();
  EXPECT_TRUE(
      scrape.Is("h_seconds_bucket", {{"cluster", "two"}, {"le", "1"}}, 1));
  EXPECT_TRUE(scrape.Is("h_seconds_count", {{"cluster", "one"}}, 3));
  EXPECT_TRUE(scrape.Is("c_total", {{"cluster", "two"}}, 12345678901.5));
}

TEST(MetricSink, FamiliesKeepTheOrderOfFirstUse) {
  MetricSink rendered_source;
  rendered_source.Gauge("b_rendered", "B.", {{"k", "1"}}, 1);
  auto rendered = rendered_source.TakeRendered();

  MetricSink sink;
  sink.Gauge("a_built", "A.", {}, 1);
  sink.Add(rendered[0]);
  sink.Gauge("c_built", "C.", {}, 3);
  sink.Gauge("a_built", "A.", {{"more", "1"}}, 2);
  const std::string text = sink.Render();
  const auto a = text.find("# TYPE a_built");
  const auto b = text.find("# TYPE b_rendered");
  const auto c = text.find("# TYPE c_built");
  ASSERT_NE(a, std::string::npos) << text;
  ASSERT_NE(b, std::string::npos) << text;
  ASSERT_NE(c, std::string::npos) << text;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_LT(text.find("a_built{more=\"1\"} 2"), b) << text;
  EXPECT_LT(text.find("b_rendered{k=\"1\"} 1"), c) << text;
}

TEST(MetricSink, EmptyRenderingAddsNoFamily) {
  MetricSink sink;
  sink.Add(RenderedFamily{"empty", "Nothing.", MetricType::Gauge,
                          std::make_shared<const std::string>()});
  sink.Add(RenderedFamily{"null", "Nothing.", MetricType::Gauge, nullptr});
  EXPECT_EQ(sink.Render(), "");
}

TEST(MetricSink, OneFamilyCannotMixRenderedAndBuiltSamples) {
  MetricSink source;
  source.Gauge("g", "G.", {{"k", "1"}}, 1);
  auto rendered = source.TakeRendered();
  {
    MetricSink sink;
    sink.Add(rendered[0]);
    EXPECT_THROW(sink.Gauge("g", "G.", {{"k", "2"}}, 2), std::logic_error);
    EXPECT_THROW(sink.Take(), std::logic_error);
  }
  {
    MetricSink sink;
    sink.Gauge("g", "G.", {{"k", "2"}}, 2);
    EXPECT_THROW(sink.Add(rendered[0]), std::logic_error);
  }
  {
    MetricSink sink;
    sink.Counter("g", "G.", {}, 1);
    EXPECT_THROW(sink.Add(rendered[0]), std::logic_error);
  }
}

TEST(MetricSink, RenderEmptiesTheSink) {
  MetricSink sink;
  sink.Gauge("g", "G.", {}, 1);
  EXPECT_NE(sink.Render(), "");
  EXPECT_EQ(sink.Render(), "");
  sink.Gauge("g", "G.", {}, 1);
  EXPECT_EQ(CountOf(sink.Render(), "# TYPE g gauge"), 1);
}

}  // namespace
}  // namespace cdc
